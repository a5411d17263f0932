// Parsers for text-format values that need more than a Swift initialiser.

/// `bytea` hex output (`\\x00ff`).
enum PGByteaHex {
    /// Decodes `\\x` followed by an even number of hex digits; nil for anything else.
    ///
    /// A table look-up per digit over the contiguous UTF-8: model weights (megabytes) travel this way.
    static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { utf8 -> [UInt8]? in
            guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x") else { return nil }
            let digits = utf8.count - 2
            guard digits % 2 == 0 else { return nil }
            var valid = true
            let bytes = [UInt8](unsafeUninitializedCapacity: digits / 2) { buffer, count in
                nibbles.withUnsafeBufferPointer { table in
                    var index = 2
                    for out in 0..<digits / 2 {
                        let high = table[Int(utf8[index])]
                        let low = table[Int(utf8[index + 1])]
                        if (high | low) & 0xF0 != 0 {
                            valid = false
                            break
                        }
                        buffer[out] = high << 4 | low
                        index += 2
                    }
                }
                count = valid ? digits / 2 : 0
            }
            return valid ? bytes : nil
        }
    }

    /// The value of each hex digit by its ASCII code; 0xFF for every other byte.
    private static let nibbles: [UInt8] = (0...255).map { code in
        nibble(UInt8(code)) ?? 0xFF
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// One-dimensional array literals as printed by `array_out`.
enum PGArrayLiteral {
    /// Parses a one-dimensional text-array literal as printed by `array_out`.
    static func decode(_ text: String) -> [String]? {
        let bytes = Array(text.utf8)
        guard bytes.first == UInt8(ascii: "{"), bytes.last == UInt8(ascii: "}") else { return nil }
        var result = [String]()
        var index = 1
        let end = bytes.count - 1
        if index == end { return [] }
        while index < end {
            var element = [UInt8]()
            if bytes[index] == UInt8(ascii: "\"") {
                index += 1
                while index < end, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\") { index += 1 }
                    guard index < end else { return nil }
                    element.append(bytes[index])
                    index += 1
                }
                guard index < end else { return nil }
                index += 1  // closing quote
            } else {
                while index < end, bytes[index] != UInt8(ascii: ",") {
                    if bytes[index] == UInt8(ascii: "{") { return nil }  // multi-dimensional
                    if bytes[index] == UInt8(ascii: "\\") {
                        index += 1
                        guard index < end else { return nil }
                    }
                    element.append(bytes[index])
                    index += 1
                }
                if element == Array("NULL".utf8) { return nil }
            }
            result.append(String(decoding: element, as: UTF8.self))
            if index < end {
                guard bytes[index] == UInt8(ascii: ",") else { return nil }
                index += 1
            }
        }
        return result
    }
}
