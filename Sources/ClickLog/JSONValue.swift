/// A strict, minimal JSON reader (RFC 8259) for the click-event form: exact types, no coercion, no
/// trailing garbage, nesting bounded. Numbers keep their text so integers are range-checked exactly.
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.number(a), .number(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.object(a), .object(b)): a.map(\.key) == b.map(\.key) && a.map(\.value) == b.map(\.value)
        default: false
        }
    }

    /// The JSON type name, for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Appends the value as compact JSON: numbers as their original text, strings escaped (`"`, `\\` and control
    /// characters), members in their order (a repeated name stays repeated). Parsing the text gives this value back.
    func write(to text: inout String) {
        switch self {
        case .null: text += "null"
        case .bool(let flag): text += flag ? "true" : "false"
        case .number(let digits): text += digits
        case .string(let string): Self.writeString(string, to: &text)
        case .array(let elements):
            text += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { text += "," }
                element.write(to: &text)
            }
            text += "]"
        case .object(let members):
            text += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { text += "," }
                Self.writeString(member.key, to: &text)
                text += ":"
                member.value.write(to: &text)
            }
            text += "}"
        }
    }

    private static func writeString(_ string: String, to text: inout String) {
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\u{00}"..."\u{1F}":
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }

    /// Parses exactly one JSON value spanning the whole input (surrounding whitespace allowed).
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 16) throws(JSONSyntaxError) -> JSONValue {
        var reader = Reader(scanner: JSONScanner(bytes: bytes), maxDepth: maxDepth)
        reader.scanner.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.scanner.skipWhitespace()
        guard reader.scanner.isAtEnd else { throw reader.scanner.error("unexpected data after the JSON value") }
        return value
    }

    /// Builds values from the tokens of a ``JSONScanner``, bounding the nesting.
    private struct Reader {
        var scanner: JSONScanner
        let maxDepth: Int

        mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            guard depth <= maxDepth else { throw scanner.error("nesting deeper than \(maxDepth)") }
            guard let byte = scanner.current else { throw scanner.error("unexpected end of input") }
            switch byte {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try scanner.string())
            case UInt8(ascii: "t"):
                try scanner.literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try scanner.literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try scanner.literal("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try scanner.number())
            default: throw scanner.error("unexpected character")
            }
        }

        mutating func array(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            var elements: [JSONValue] = []
            guard scanner.enter(.array) else { return .array(elements) }
            repeat {
                elements.append(try value(depth: depth + 1))
            } while try scanner.next(in: .array)
            return .array(elements)
        }

        mutating func object(depth: Int) throws(JSONSyntaxError) -> JSONValue {
            var members: [(key: String, value: JSONValue)] = []
            guard scanner.enter(.object) else { return .object(members) }
            repeat {
                let key = try scanner.memberKey()
                members.append((key, try value(depth: depth + 1)))
            } while try scanner.next(in: .object)
            return .object(members)
        }
    }
}
