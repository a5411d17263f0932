/// Standard base64 (RFC 4648 §4 alphabet) decoding for `regions_b64`.
///
/// Padding is optional (`=`/`==` accepted at the end only); whitespace, the URL-safe alphabet and bits left
/// over in the last character are refused, so each byte string has exactly one accepted encoding.
enum CatalogBase64 {
    struct Failure: Error {
        var message: String
    }

    /// 0…63 for alphabet bytes, 0xFF otherwise.
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(value)
        }
        return table
    }()

    /// Decodes `text`.
    static func decode(_ text: UnsafeBufferPointer<UInt8>) throws(Failure) -> [UInt8] {
        var count = text.count
        var padding = 0
        while count > 0, padding < 2, text[count - 1] == UInt8(ascii: "=") {
            count -= 1
            padding += 1
        }
        if padding > 0, text.count % 4 != 0 {
            throw Failure(message: "padded length \(text.count) is not a multiple of 4")
        }
        let remainder = count % 4
        if remainder == 1 { throw Failure(message: "length \(count) cannot be base64 (one character left over)") }
        if padding > 0, remainder == 0 || 4 - remainder != padding {
            throw Failure(message: "wrong padding")
        }
        var out = [UInt8](repeating: 0, count: count / 4 * 3 + (remainder == 0 ? 0 : remainder - 1))
        var failure: Failure?
        table.withUnsafeBufferPointer { table in
            out.withUnsafeMutableBufferPointer { out in
                var input = 0
                var output = 0
                func value(_ position: Int) -> UInt32? {
                    let decoded = table[Int(text[position])]
                    return decoded == 0xFF ? nil : UInt32(decoded)
                }
                while input + 4 <= count {
                    guard let a = value(input), let b = value(input + 1), let c = value(input + 2),
                        let d = value(input + 3)
                    else {
                        failure = invalidCharacter(text, from: input, to: input + 4)
                        return
                    }
                    let n = a << 18 | b << 12 | c << 6 | d
                    out[output] = UInt8(truncatingIfNeeded: n >> 16)
                    out[output + 1] = UInt8(truncatingIfNeeded: n >> 8)
                    out[output + 2] = UInt8(truncatingIfNeeded: n)
                    input += 4
                    output += 3
                }
                guard remainder > 0 else { return }
                var n: UInt32 = 0
                for offset in 0..<remainder {
                    guard let v = value(input + offset) else {
                        failure = invalidCharacter(text, from: input, to: input + remainder)
                        return
                    }
                    n |= v << (18 - 6 * UInt32(offset))
                }
                out[output] = UInt8(truncatingIfNeeded: n >> 16)
                if remainder == 3 { out[output + 1] = UInt8(truncatingIfNeeded: n >> 8) }
                let unusedBits: UInt32 = remainder == 2 ? 0xFFFF : 0xFF
                if n & unusedBits != 0 { failure = Failure(message: "non-zero bits after the last byte") }
            }
        }
        if let failure { throw failure }
        return out
    }

    private static func invalidCharacter(_ text: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> Failure {
        for position in start..<end where table[Int(text[position])] == 0xFF {
            let byte = text[position]
            let shown =
                byte >= 0x21 && byte < 0x7F
                ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16, uppercase: true))"
            return Failure(message: "invalid character \(shown) at position \(position)")
        }
        return Failure(message: "invalid character")
    }
}
