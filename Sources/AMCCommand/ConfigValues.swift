import Foundation

/// The layered configuration of one invocation — command-line flags, then `AMC_…` environment variables, then the
/// config file — read with checked types.
///
/// Every accessor finds the highest layer that sets the key, converts its value strictly to the requested type
/// and checks it against the given bounds. A value that is set but does not fit is never skipped in favour of a
/// lower layer or the default: it throws one line naming the key, the layer and the problem,
/// `serve.port (--port) must be in 0...65535, got -1`, with the value shown unless the key is secret.
struct ConfigValues: Sendable {
    /// The command line's values (already typed by the argument parser).
    let flags: FlagValues
    /// The process environment.
    let environment: [String: String]
    /// The config file that was read, if any.
    let file: ConfigFile?

    /// Keys whose values are secrets: their values never appear in a message.
    static let secretKeys: Set<String> = ["database.url"]

    /// The environment variable of `key`: `AMC_` + the key upper-cased, every character other than a letter or a
    /// digit read as `_` (`serve.max-body-bytes` → `AMC_SERVE_MAX_BODY_BYTES`,
    /// `ingest.batch.maxRecords` → `AMC_INGEST_BATCH_MAXRECORDS`).
    static func environmentVariable(for key: String) -> String {
        "AMC_" + String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    // MARK: - Typed accessors

    /// The string at `key`, or nil when no layer sets it.
    func string(forKey key: String) throws -> String? {
        try value(forKey: key, as: .string, bounds: nil)
    }

    /// The string at `key`, or `defaultValue` when no layer sets it.
    func string(forKey key: String, default defaultValue: String) throws -> String {
        try string(forKey: key) ?? defaultValue
    }

    /// The integer at `key` (checked against `bounds`), or nil when no layer sets it.
    func int(forKey key: String, bounds: ConfigBounds<Int>? = nil) throws -> Int? {
        try value(forKey: key, as: .int, bounds: bounds)
    }

    /// The integer at `key` (checked against `bounds`), or `defaultValue` when no layer sets it.
    func int(forKey key: String, default defaultValue: Int, bounds: ConfigBounds<Int>? = nil) throws -> Int {
        try int(forKey: key, bounds: bounds) ?? defaultValue
    }

    /// The number at `key` (checked against `bounds`), or nil when no layer sets it.
    func double(forKey key: String, bounds: ConfigBounds<Double>? = nil) throws -> Double? {
        try value(forKey: key, as: .double, bounds: bounds)
    }

    /// The number at `key` (checked against `bounds`), or `defaultValue` when no layer sets it.
    func double(
        forKey key: String,
        default defaultValue: Double,
        bounds: ConfigBounds<Double>? = nil
    ) throws
        -> Double
    {
        try double(forKey: key, bounds: bounds) ?? defaultValue
    }

    /// The boolean at `key`, or nil when no layer sets it.
    func bool(forKey key: String) throws -> Bool? {
        try value(forKey: key, as: .bool, bounds: nil)
    }

    /// The boolean at `key`, or `defaultValue` when no layer sets it.
    func bool(forKey key: String, default defaultValue: Bool) throws -> Bool {
        try bool(forKey: key) ?? defaultValue
    }

    /// The list of strings at `key`, or nil when no layer sets it.
    func stringArray(forKey key: String) throws -> [String]? {
        try value(forKey: key, as: .stringArray, bounds: nil)
    }

    /// The list of strings at `key`, or `defaultValue` when no layer sets it.
    func stringArray(forKey key: String, default defaultValue: [String]) throws -> [String] {
        try stringArray(forKey: key) ?? defaultValue
    }

    // MARK: - Lookup

    fileprivate func value<Value>(
        forKey key: String,
        as type: ConfigValueType<Value>,
        bounds: ConfigBounds<Value>?
    ) throws -> Value? {
        let secret = Self.secretKeys.contains(key)
        guard let (raw, layer) = lookup(key) else { return nil }
        let problem = { (found: String) in
            ConfigValueError(key: key, layer: layer, requirement: type.requirement, found: secret ? nil : found)
        }
        guard let value = type.convert(raw) else { throw problem(raw.shown) }
        if let bounds, !bounds.accepts(value) {
            throw ConfigValueError(
                key: key,
                layer: layer,
                requirement: bounds.requirement,
                found: secret ? nil : raw.shown
            )
        }
        return value
    }

    /// How high the layer that sets `key` ranks: 3 for the command line, 2 for the environment, 1 for the config
    /// file, 0 when no layer sets it.
    func layerRank(ofKey key: String) -> Int {
        switch lookup(key)?.1 {
        case .commandLine: 3
        case .environment: 2
        case .file: 1
        case nil: 0
        }
    }

    /// The highest layer's raw value of `key`.
    private func lookup(_ key: String) -> (RawConfigValue, ConfigLayer)? {
        if let (value, flag) = flags.value(forKey: key) {
            return (value, .commandLine(flag: flag))
        }
        let variable = Self.environmentVariable(for: key)
        if let text = environment[variable], !text.isEmpty {
            return (.text(text), .environment(variable: variable))
        }
        if let file, let value = file.value(forKey: key) {
            return (.json(value), .file(path: file.path))
        }
        return nil
    }
}

// MARK: - Layers and values

/// Where a configuration value came from, as messages name it.
enum ConfigLayer: Sendable, CustomStringConvertible {
    /// A command-line option (its name when known).
    case commandLine(flag: String?)
    /// An `AMC_…` environment variable.
    case environment(variable: String)
    /// The JSON config file.
    case file(path: String)

    var description: String {
        switch self {
        case .commandLine(let flag): flag ?? "command line"
        case .environment(let variable): "environment \(variable)"
        case .file(let path): "config file \(path)"
        }
    }
}

/// A value as one layer holds it, before conversion.
enum RawConfigValue: Sendable {
    /// A value the argument parser already typed.
    case typed(TypedFlagValue)
    /// An environment variable's text.
    case text(String)
    /// A value from the JSON config file.
    case json(JSONConfigValue)

    /// The value as a message shows it.
    var shown: String {
        switch self {
        case .typed(let value): value.shown
        case .text(let text): "\"\(text)\""
        case .json(let value): value.shown
        }
    }
}

/// A command-line option's value, typed by the argument parser.
enum TypedFlagValue: Sendable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case strings([String])

    var shown: String {
        switch self {
        case .string(let value): "\"\(value)\""
        case .int(let value): String(value)
        case .double(let value): String(value)
        case .bool(let value): String(value)
        case .strings(let values): values.map { "\"\($0)\"" }.joined(separator: ", ")
        }
    }
}

/// A one-line configuration problem: `KEY (LAYER) must be REQUIREMENT, got VALUE`.
struct ConfigValueError: Error, CustomStringConvertible {
    var key: String
    var layer: ConfigLayer
    var requirement: String
    /// The offending value as shown; nil for a secret.
    var found: String?

    var description: String {
        "\(key) (\(layer)) must be \(requirement)" + (found.map { ", got \($0)" } ?? "")
    }
}

/// A conversion from a raw value to one Swift type, strict about types: a JSON string is never a number, a JSON
/// number never a boolean.
struct ConfigValueType<Value>: Sendable {
    /// What the value must be, for messages ("an integer").
    let requirement: String
    let convert: @Sendable (RawConfigValue) -> Value?

    static var string: ConfigValueType<String> {
        .init(requirement: "a string") { raw in
            switch raw {
            case .typed(.string(let value)), .text(let value), .json(.string(let value)): value
            default: nil
            }
        }
    }

    static var int: ConfigValueType<Int> {
        .init(requirement: "an integer") { raw in
            switch raw {
            case .typed(.int(let value)), .json(.integer(let value)): value
            case .text(let text): Int(text)
            case .json(.number(let value)): Int(exactly: value)
            default: nil
            }
        }
    }

    static var double: ConfigValueType<Double> {
        .init(requirement: "a number") { raw in
            let value: Double? =
                switch raw {
                case .typed(.double(let value)), .json(.number(let value)): value
                case .typed(.int(let value)), .json(.integer(let value)): Double(value)
                case .text(let text): Double(text)
                default: nil
                }
            return value.flatMap { $0.isFinite ? $0 : nil }
        }
    }

    static var bool: ConfigValueType<Bool> {
        .init(requirement: "true or false") { raw in
            switch raw {
            case .typed(.bool(let value)), .json(.bool(let value)): value
            case .text(let text):
                switch text.lowercased() {
                case "true", "yes", "1": true
                case "false", "no", "0": false
                default: nil
                }
            default: nil
            }
        }
    }

    static var stringArray: ConfigValueType<[String]> {
        .init(requirement: "a list of strings") { raw in
            switch raw {
            case .typed(.strings(let values)): values
            case .typed(.string(let value)), .json(.string(let value)): [value]
            case .text(let text):
                text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            case .json(.array(let values)):
                values.allSatisfy { if case .string = $0 { true } else { false } }
                    ? values.compactMap { if case .string(let value) = $0 { value } else { nil } } : nil
            default: nil
            }
        }
    }
}

/// The range a configuration value must fall in, with its wording for messages.
struct ConfigBounds<Value>: Sendable {
    /// What the value must be ("at least 1", "in 0...65535", "positive").
    let requirement: String
    let accepts: @Sendable (Value) -> Bool
}

extension ConfigBounds where Value == Int {
    /// `minimum` or more.
    static func atLeast(_ minimum: Int) -> Self {
        .init(requirement: "at least \(minimum)") { $0 >= minimum }
    }

    /// Within `range`.
    static func within(_ range: ClosedRange<Int>) -> Self {
        .init(requirement: "in \(range.lowerBound)...\(range.upperBound)") { range.contains($0) }
    }

    /// A TCP port, 0 (any free one) included.
    static let port = within(0...65_535)
}

extension ConfigBounds where Value == Double {
    /// `minimum` or more.
    static func atLeast(_ minimum: Double) -> Self {
        .init(requirement: "at least \(minimum)") { $0 >= minimum }
    }

    /// Within `range`.
    static func within(_ range: ClosedRange<Double>) -> Self {
        .init(requirement: "in \(range.lowerBound)...\(range.upperBound)") { range.contains($0) }
    }

    /// A positive number of seconds, at most about 30 years (so it fits a `Duration`).
    static let positiveSeconds = Self(requirement: "a number of seconds from 0.001 to 1e9") {
        $0 >= 0.001 && $0 <= 1e9
    }
}

extension ConfigBounds where Value == String {
    /// One of `choices`.
    static func oneOf(_ choices: [String]) -> Self {
        .init(requirement: "one of " + choices.joined(separator: ", ")) { choices.contains($0) }
    }

    /// Not empty.
    static let nonEmpty = Self(requirement: "a non-empty string") { !$0.isEmpty }
}

extension ConfigValues {
    /// The string at `key`, which must be one of `choices`, or `defaultValue` when no layer sets it.
    func string(forKey key: String, default defaultValue: String, oneOf choices: [String]) throws -> String {
        try value(forKey: key, as: .string, bounds: .oneOf(choices)) ?? defaultValue
    }

    /// The string at `key`, which must not be empty, or `defaultValue` when no layer sets it.
    func nonEmptyString(forKey key: String, default defaultValue: String) throws -> String {
        try value(forKey: key, as: .string, bounds: .nonEmpty) ?? defaultValue
    }
}

/// Described by what it holds, never by its values: the environment carries secrets (`AMC_DATABASE_URL`,
/// `AMC_KAFKA_PROPERTY_SASL_PASSWORD`), so a log line or `dump` of the configuration shows none of them.
extension ConfigValues: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    var description: String {
        "ConfigValues(\(flags), environment: \(environment.count) variables, file: \(file?.path ?? "none"))"
    }

    var debugDescription: String { description }

    var customMirror: Mirror { Mirror(self, children: ["description": description]) }
}
