import Foundation

/// Formats and parses `timestamptz` text without Foundation formatters (which are slow and locale-bound).
enum PGTimestamp {
    private static let microsPerDay: Int64 = 86_400_000_000

    /// `2024-05-01 12:00:00.123456+00` (UTC, microsecond precision, ` BC` for years before 1).
    static func format(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        var days = micros / microsPerDay
        var remainder = micros % microsPerDay
        if remainder < 0 {
            remainder += microsPerDay
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        let seconds = remainder / 1_000_000
        let fraction = remainder % 1_000_000
        var text = ""
        text.reserveCapacity(32)
        pad(&text, year > 0 ? year : 1 - year, 4)
        text += "-"
        pad(&text, month, 2)
        text += "-"
        pad(&text, day, 2)
        text += " "
        pad(&text, seconds / 3600, 2)
        text += ":"
        pad(&text, seconds / 60 % 60, 2)
        text += ":"
        pad(&text, seconds % 60, 2)
        text += "."
        pad(&text, fraction, 6)
        text += "+00"
        if year <= 0 { text += " BC" }
        return text
    }

    /// Parses the server's ISO output for `timestamptz`, `timestamp` (taken as UTC) and `date`.
    /// Accepts any UTC offset (`+05:30`, `-03`, `+00:09:21`), `infinity` and `-infinity`.
    static func parse(_ text: String) -> Date? {
        if text == "infinity" { return .distantFuture }
        if text == "-infinity" { return .distantPast }
        var scanner = ByteScanner(Array(text.utf8))
        guard var year = scanner.number(maxDigits: 9), scanner.skip(UInt8(ascii: "-")),
            let month = scanner.number(maxDigits: 2), scanner.skip(UInt8(ascii: "-")),
            let day = scanner.number(maxDigits: 2)
        else { return nil }
        var micros: Int64 = 0
        if scanner.skip(UInt8(ascii: " ")) || scanner.skip(UInt8(ascii: "T")) {
            guard let hour = scanner.number(maxDigits: 2), scanner.skip(UInt8(ascii: ":")),
                let minute = scanner.number(maxDigits: 2), scanner.skip(UInt8(ascii: ":")),
                let second = scanner.number(maxDigits: 2)
            else { return nil }
            micros = (hour * 3600 + minute * 60 + second) * 1_000_000
            if scanner.skip(UInt8(ascii: ".")) {
                var scale: Int64 = 100_000
                var digits = 0
                while let digit = scanner.digit() {
                    if digits < 6 { micros += Int64(digit) * scale }
                    scale /= 10
                    digits += 1
                }
                if digits == 0 { return nil }
            }
            if let sign = scanner.peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                scanner.advance()
                guard let offsetHours = scanner.number(maxDigits: 2) else { return nil }
                var offset = offsetHours * 3600
                if scanner.skip(UInt8(ascii: ":")) {
                    guard let minutes = scanner.number(maxDigits: 2) else { return nil }
                    offset += minutes * 60
                    if scanner.skip(UInt8(ascii: ":")) {
                        guard let seconds = scanner.number(maxDigits: 2) else { return nil }
                        offset += seconds
                    }
                }
                micros -= (sign == UInt8(ascii: "+") ? offset : -offset) * 1_000_000
            }
        }
        if scanner.skip(UInt8(ascii: " ")) {
            guard scanner.skip(UInt8(ascii: "B")), scanner.skip(UInt8(ascii: "C")) else { return nil }
            year = 1 - year
        }
        guard scanner.isAtEnd, (1...12).contains(month), (1...31).contains(day) else { return nil }
        let total = days(fromCivil: year, month, day) * microsPerDay + micros
        return Date(timeIntervalSince1970: Double(total) / 1_000_000)
    }

    // MARK: - Calendar arithmetic (proleptic Gregorian, H. Hinnant's algorithms)

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func pad(_ text: inout String, _ value: Int64, _ width: Int) {
        let digits = String(value)
        if digits.utf8.count < width { text += String(repeating: "0", count: width - digits.utf8.count) }
        text += digits
    }
}

/// A tiny cursor over ASCII bytes.
struct ByteScanner {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { index == bytes.count }

    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func advance() { index += 1 }

    mutating func skip(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        index += 1
        return true
    }

    mutating func digit() -> Int? {
        guard let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        index += 1
        return Int(byte - UInt8(ascii: "0"))
    }

    mutating func number(maxDigits: Int) -> Int64? {
        var value: Int64 = 0
        var count = 0
        while count < maxDigits, let digit = digit() {
            value = value * 10 + Int64(digit)
            count += 1
        }
        return count > 0 ? value : nil
    }
}
