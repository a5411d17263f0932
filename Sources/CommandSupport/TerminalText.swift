/// Text from the database (dead-letter bytes and reasons, activation reasons, actors) made safe to print on a
/// terminal.
public enum TerminalText {
    /// Text with every control and format character (C0, C1, DEL, bidirectional overrides, zero-width marks)
    /// and `\` escaped, so it prints on one line and cannot drive the terminal; cut to `limit` characters.
    public static func escaped(_ text: String, limit: Int = .max) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit {
                out += "…"
                break
            }
            switch scalar {
            case "\\": out += "\\\\"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default:
                switch scalar.properties.generalCategory {
                case .control, .format, .lineSeparator, .paragraphSeparator:
                    out += "\\u{" + String(scalar.value, radix: 16) + "}"
                default: out.unicodeScalars.append(scalar)
                }
            }
            count += 1
        }
        return out
    }
}
