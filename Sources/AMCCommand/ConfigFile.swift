import CommandSupport
import Foundation

/// A JSON configuration file (`--config FILE`, or `Config/amc.json` when present), parsed once.
///
/// Nested objects name keys by path: `{"serve": {"port": 8080}}` sets `serve.port`. A malformed file, or one whose
/// top level is not an object, is refused with one line naming the file.
struct ConfigFile: Sendable {
    /// The path as given.
    let path: String
    /// The top-level object.
    let root: [String: JSONConfigValue]

    /// Reads and parses `path`.
    /// - Throws: ``CommandError`` naming the file when it cannot be read or is not a JSON object.
    init(path: String) throws {
        self.path = path
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason =
                FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw CommandError("config file \(path) \(reason)")
        }
        let value: JSONConfigValue
        do {
            value = try JSONDecoder().decode(JSONConfigValue.self, from: data)
        } catch {
            throw CommandError("config file \(path) is not valid JSON: \(Self.syntaxProblem(in: data) ?? "\(error)")")
        }
        guard case .object(let root) = value else {
            throw CommandError("config file \(path) must hold a JSON object, got \(value.kind)")
        }
        self.root = root
    }

    /// The value at a dotted key (`serve.max-body-bytes`), nil when absent or `null`.
    func value(forKey key: String) -> JSONConfigValue? {
        var current = JSONConfigValue.object(root)
        for component in key.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .object(let members) = current, let next = members[String(component)] else { return nil }
            current = next
        }
        if case .null = current { return nil }
        return current
    }

    /// Foundation's own description of a JSON syntax error ("Invalid value around character 20."), with the line
    /// and column of that character, or nil when the data parses.
    private static func syntaxProblem(in data: Data) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return nil
        } catch let error as NSError {
            guard let detail = error.userInfo[NSDebugDescriptionErrorKey] as? String else { return nil }
            let trimmed = detail.hasSuffix(".") ? String(detail.dropLast()) : detail
            guard let marker = trimmed.range(of: "character "),
                let offset = Int(trimmed[marker.upperBound...].prefix { $0.isNumber })
            else { return trimmed }
            let before = data.prefix(offset)
            let line = before.count { $0 == UInt8(ascii: "\n") } + 1
            let column = offset - (before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
            return "\(trimmed) (line \(line), column \(column))"
        }
    }
}

/// A JSON value of a configuration file, keeping JSON's own types (a string is never a number, a number never a
/// boolean).
indirect enum JSONConfigValue: Sendable, Decodable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONConfigValue])
    case object([String: JSONConfigValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONConfigValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONConfigValue].self))
        }
    }

    /// What kind of JSON value this is, for messages ("a string").
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The value as a message shows it: scalars as JSON, arrays and objects by kind.
    var shown: String {
        switch self {
        case .null: "null"
        case .bool(let value): String(value)
        case .integer(let value): String(value)
        case .number(let value): String(value)
        case .string(let value): "the string \"\(value)\""
        case .array, .object: kind
        }
    }
}
