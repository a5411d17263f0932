/// The members of one JSON object, read with the rules of the click-event form: strict RFC 8259 syntax, no trailing
/// data, nesting bounded, every member name at most once, exact types (no coercion) and integers checked exactly.
///
/// The scoring API reads its request bodies with it, so a body is refused for the same reasons a JSON click event
/// is dead-lettered. Every error is a ``ClickLogError``: ``ClickLogError/Reason/invalidJSON`` for the syntax (its
/// detail begins `not valid JSON:` or `not a JSON object`), ``ClickLogError/Reason/invalidField`` for a member
/// (its detail names the field).
public struct JSONObjectFields {
    private let members: [String: JSONValue]

    /// Reads `bytes` as one JSON object.
    /// - Parameters:
    ///   - bytes: UTF-8 text (checked).
    ///   - maxDepth: The deepest nesting accepted.
    /// - Throws: A ``ClickLogError``: not valid UTF-8 or JSON, not an object, or a member name that appears twice.
    public init(parsing bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 16) throws(ClickLogError) {
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw ClickLogError(.invalidUTF8, "not valid UTF-8")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes, maxDepth: maxDepth)
        } catch {
            throw ClickLogError(.invalidJSON, "not valid JSON: \(error.message) at byte \(error.offset)")
        }
        guard case .object(let list) = value else {
            throw ClickLogError(.invalidJSON, "not a JSON object but \(value.typeName)")
        }
        self.members = try Self.uniqueMembers(list)
    }

    /// An object's members by name; a name given twice is refused (the first would otherwise win silently).
    static func uniqueMembers(
        _ list: [(key: String, value: JSONValue)]
    ) throws(ClickLogError) -> [String: JSONValue] {
        var members: [String: JSONValue] = [:]
        for member in list {
            guard members.updateValue(member.value, forKey: member.key) == nil else {
                throw ClickLogError(.invalidField, "field '\(member.key)' appears more than once")
            }
        }
        return members
    }

    /// Whether the object has a member `name` (null or not).
    public func contains(_ name: String) -> Bool { members[name] != nil }

    /// The string member `name`; nil when it is absent or `null`.
    /// - Throws: ``ClickLogError/Reason/invalidField`` when it is another type.
    public func string(_ name: String) throws(ClickLogError) -> String? {
        guard let value = members[name], value != .null else { return nil }
        guard case .string(let text) = value else { throw Self.fieldError(name, "a string", value) }
        return text
    }

    /// The boolean member `name`; nil when it is absent or `null`.
    /// - Throws: ``ClickLogError/Reason/invalidField`` when it is another type (`"true"` and `1` are not booleans).
    public func boolean(_ name: String) throws(ClickLogError) -> Bool? {
        guard let value = members[name], value != .null else { return nil }
        guard case .bool(let flag) = value else { throw Self.fieldError(name, "a boolean", value) }
        return flag
    }

    /// The integer member `name`, an exact integer literal (no fraction, no exponent) within `range`; nil when it is
    /// absent or `null`.
    /// - Throws: ``ClickLogError/Reason/invalidField`` naming `expected` when it is anything else.
    public func integer(_ name: String, in range: ClosedRange<Int64>, expected: String) throws(ClickLogError) -> Int64?
    {
        guard let value = members[name], value != .null else { return nil }
        guard let integer = Self.integer(value), range.contains(integer) else {
            throw Self.fieldError(name, expected, value)
        }
        return integer
    }

    /// The array-of-strings member `name`; nil when it is absent or `null`.
    /// - Throws: ``ClickLogError/Reason/invalidField`` when it is not an array, or an element is not a string.
    public func strings(_ name: String) throws(ClickLogError) -> [String]? {
        guard let value = members[name], value != .null else { return nil }
        guard case .array(let elements) = value else { throw Self.fieldError(name, "an array of strings", value) }
        var strings: [String] = []
        strings.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .string(let text) = element else {
                throw Self.fieldError("\(name)[\(index)]", "a string", element)
            }
            strings.append(text)
        }
        return strings
    }

    /// The array-of-objects member `name`, each element as compact JSON text (numbers spelled as given, strings
    /// re-escaped), for a reader of its own (the scoring API hands inline images to the catalog's line parser); nil
    /// when it is absent or `null`.
    /// - Throws: ``ClickLogError/Reason/invalidField`` when it is not an array, or an element is not an object.
    public func objectTexts(_ name: String) throws(ClickLogError) -> [String]? {
        guard let value = members[name], value != .null else { return nil }
        guard case .array(let elements) = value else { throw Self.fieldError(name, "an array of objects", value) }
        var texts: [String] = []
        texts.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .object = element else { throw Self.fieldError("\(name)[\(index)]", "an object", element) }
            var text = ""
            element.write(to: &text)
            texts.append(text)
        }
        return texts
    }

    /// The integer a number's text spells exactly, or nil (a fraction, an exponent, out of `Int64`, not a number).
    static func integer(_ value: JSONValue) -> Int64? {
        guard case .number(let text) = value, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
            return nil
        }
        return Int64(text)
    }

    /// `field 'name' must be expected, got …` (a number is quoted, other values named by type).
    static func fieldError(_ name: String, _ expected: String, _ value: JSONValue) -> ClickLogError {
        if case .number(let text) = value {
            return ClickLogError(
                .invalidField,
                "field '\(name)' must be \(expected), got \(ClickLogError.excerpt(Substring(text)))"
            )
        }
        return ClickLogError(.invalidField, "field '\(name)' must be \(expected), got \(value.typeName)")
    }
}
