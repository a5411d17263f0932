/// Writes JSON string literals (RFC 8259), for the places that write JSON lines by hand (the simulator's files,
/// JSON logs): the counterpart of ``JSONScanner``.
public enum JSONStringLiteral {
    /// Appends `text` as a quoted JSON string: `"` and `\` escaped, newline, carriage return and tab as `\n`, `\r`,
    /// `\t`, every other control character as `\u00xx`; everything else as itself.
    public static func append(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// `text` as a quoted JSON string (see ``append(_:to:)``).
    public static func quoted(_ text: String) -> String {
        var out = ""
        append(text, to: &out)
        return out
    }
}
