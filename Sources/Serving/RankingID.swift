import Foundation

/// The `ranking_id` of a scoring response: a UUID in version 7's layout, written in the canonical lower-case form
/// (`01938a5c-7d2e-7b3a-9c1d-2e4f6a8b0c1d`, 36 characters).
///
/// The first 48 bits are Unix milliseconds, so ids sort by the time they were minted (new rows of `rankings` land
/// at the right edge of its primary key, and an id tells roughly when it was served); the other 74 bits (version and
/// variant aside) are random from the system's generator, so ids of different requests do not collide and cannot
/// be guessed from one another. Stored as PostgreSQL `uuid` (16 bytes). See `Docs/online.md`.
public enum RankingID {
    /// A new id for a ranking served at `date`.
    /// - Parameter date: When the ranking was served (its milliseconds lead the id).
    /// - Returns: The id's canonical text.
    public static func make(at date: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(at: date, using: &generator)
    }

    /// A new id for a ranking served at `date`, its random bits from `generator`.
    public static func make(at date: Date, using generator: inout some RandomNumberGenerator) -> String {
        let millis = UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded(.down))) & 0xFFFF_FFFF_FFFF
        let random = (generator.next() as UInt64, generator.next() as UInt64)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millis >> (8 * (5 - index))) }
        for index in 6..<16 {
            let word = index < 8 ? random.0 : random.1
            bytes[index] = UInt8(truncatingIfNeeded: word >> (8 * (index % 8)))
        }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 9562 variant
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
