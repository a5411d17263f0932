/// Strict RFC 3339 date-time parsing (`2026-11-25T21:00:00.123Z`, `…+01:00`) into microseconds since the
/// Unix epoch, without Foundation formatters (allocation-free; exact for every valid input).
public enum RFC3339 {
    /// Parses a timestamp; nil when it is not RFC 3339 `date-time` (lower-case `t`/`z` and a space separator accepted).
    public static func parseMicros(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parseMicros($0) }
    }

    static func parseMicros(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= b.count else { return nil }
            var value = 0
            for i in start..<start + count {
                let d = Int(b[i]) - 0x30
                guard d >= 0 && d <= 9 else { return nil }
                value = value * 10 + d
            }
            return value
        }
        guard b.count >= 20,
            let year = digits(0, 4), b[4] == UInt8(ascii: "-"),
            let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
            let day = digits(8, 2),
            b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
            let hour = digits(11, 2), b[13] == UInt8(ascii: ":"),
            let minute = digits(14, 2), b[16] == UInt8(ascii: ":"),
            let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }
        var index = 19
        var micros = 0
        if b[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 100_000
            let start = index
            while index < b.count, b[index] >= 0x30, b[index] <= 0x39 {
                micros += Int(b[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < b.count else { return nil }
        var offsetSeconds = 0
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let oh = digits(index + 1, 2), b.count > index + 3, b[index + 3] == UInt8(ascii: ":"),
                let om = digits(index + 4, 2), oh <= 23, om <= 59
            else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (b[index] == UInt8(ascii: "-") ? -1 : 1)
            index += 6
        default:
            return nil
        }
        guard index == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        return Int64(seconds) * 1_000_000 + Int64(micros)
    }

    /// Formats microseconds since the epoch as `YYYY-MM-DD HH:MM:SS.ffffff+00`, the text form PostgreSQL's
    /// `timestamptz` input accepts (used for COPY).
    public static func postgresText(micros: Int64) -> String {
        var seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let fraction = Int(micros - seconds * 1_000_000)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        seconds -= days * 86_400
        let (year, month, day) = civilFromDays(Int(days))
        let s = Int(seconds)
        func pad(_ v: Int, _ width: Int) -> String {
            let text = String(v)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(s / 3600, 2)):\(pad(s / 60 % 60, 2)):"
            + "\(pad(s % 60, 2)).\(pad(fraction, 6))+00"
    }

    /// Formats microseconds since the epoch as an RFC 3339 UTC date-time: `2026-01-01T00:00:00Z`, with a
    /// six-digit fraction only when the time is not a whole second.
    public static func format(micros: Int64) -> String {
        let text = postgresText(micros: micros)  // `YYYY-MM-DD HH:MM:SS.ffffff+00`
        let date = text.prefix(10)
        let time = text.dropFirst(11).prefix(8)
        let fraction = text.dropFirst(19).prefix(7)
        return "\(date)T\(time)\(fraction == ".000000" ? "" : fraction)Z"
    }

    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
