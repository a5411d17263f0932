/// Decimal text → float32, correctly rounded (round to nearest, ties to even), fast for typical feature values.
///
/// The input is a JSON number already checked against the grammar. The fast path reads at most 19 significant
/// digits into an integer `m` and a decimal exponent `e` with `|e| ≤ 22`, and computes `m · 10^e` in `Double`
/// (`10^e` is exact there):
/// - when `m ≤ 2^53` that is one correctly rounded operation on exact operands (Clinger's fast path), so rounding
///   the `Double` to `Float` is exact too unless the `Double` lies exactly halfway between two floats;
/// - otherwise (17–19 digits, as `numpy` and Python print float32 values) the `Double` is within 2 of its units in
///   the last place of the exact value, so rounding it to `Float` is exact unless it lies within 8 units of a
///   point halfway between two floats.
/// The rare cases near a halfway point, subnormal or overflowing results, and everything outside the fast path go
/// to the standard library's correctly rounded `Float(String)`.
enum CatalogFloatParser {
    private static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    static func parse(_ text: UnsafeBufferPointer<UInt8>) -> Float {
        fast(text) ?? slow(text)
    }

    static func slow(_ text: UnsafeBufferPointer<UInt8>) -> Float {
        // The grammar was checked, so this only fails for out-of-range exponents; Float(String) gives ±inf or ±0.
        Float(String(decoding: text, as: UTF8.self)) ?? .nan
    }

    static func fast(_ text: UnsafeBufferPointer<UInt8>) -> Float? {
        var index = 0
        let count = text.count
        var negative = false
        if text[0] == UInt8(ascii: "-") {
            negative = true
            index = 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        // Integer part.
        while index < count, text[index] >= 0x30, text[index] <= 0x39 {
            let digit = UInt64(text[index] &- 0x30)
            if digits > 0 || digit != 0 {
                guard digits < 19 else { return nil }
                mantissa = mantissa &* 10 &+ digit
                digits += 1
            }
            index += 1
        }
        // Fraction.
        if index < count, text[index] == UInt8(ascii: ".") {
            index += 1
            while index < count, text[index] >= 0x30, text[index] <= 0x39 {
                let digit = UInt64(text[index] &- 0x30)
                if digits > 0 || digit != 0 {
                    guard digits < 19 else { return nil }
                    mantissa = mantissa &* 10 &+ digit
                    digits += 1
                }
                exponent -= 1
                index += 1
            }
        }
        // Exponent.
        if index < count, text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") {
                exponentNegative = text[index] == UInt8(ascii: "-")
                index += 1
            }
            var written = 0
            while index < count {
                guard written < 100_000 else { return nil }
                written = written * 10 + Int(text[index] &- 0x30)
                index += 1
            }
            exponent += exponentNegative ? -written : written
        }
        if mantissa == 0 { return negative ? -0.0 : 0.0 }
        guard exponent >= -22, exponent <= 22 else { return nil }
        var value = Double(mantissa)
        if exponent < 0 {
            value /= powersOfTen[-exponent]
        } else {
            value *= powersOfTen[exponent]
        }
        guard value >= Double(Float.leastNormalMagnitude), value <= Double(Float.greatestFiniteMagnitude) else {
            return nil
        }
        // The 29 low bits of the Double's significand are its position between two adjacent floats; 2^28 is halfway.
        let offset = Int(value.bitPattern & 0x1FFF_FFFF) - 0x1000_0000
        if mantissa <= 1 << 53 {
            if offset == 0 { return nil }
        } else if abs(offset) <= 8 {
            return nil
        }
        let result = Float(value)
        return negative ? -result : result
    }
}
