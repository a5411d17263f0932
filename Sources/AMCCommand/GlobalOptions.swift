import ArgumentParser
import CommandSupport
import Foundation
import Kafka
import Logging
import Postgres
import Synchronization

/// Options every subcommand takes, after the subcommand or before it (`amc --database-url U model list`). Each also
/// has a config key; precedence is flag > environment (`AMC_…`) > config file > built-in default.
struct GlobalOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL or conninfo (env AMC_DATABASE_URL, key database.url). Never printed.")
    var databaseURL: DatabaseURL?

    @Option(help: "Kafka bootstrap servers, host:port[,…] (env AMC_KAFKA_BROKERS, key kafka.brokers).")
    var brokers: String?

    @Option(help: "JSON configuration file (default: Config/amc.json when present).")
    var config: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (key log.level). Default: info.")
    var logLevel: Logger.Level?

    @Option(help: "Log format: text, or json for one JSON object per line (key log.format). Default: text.")
    var logFormat: LogFormat?

    /// The long names of the options that take a value, as `AMC.main` finds them before a subcommand.
    static let valueOptionNames: Set<String> = [
        "--database-url", "--brokers", "--config", "--log-level", "--log-format",
    ]
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension DatabaseURL: ExpressibleByArgument {
    /// Any text: libpq judges it when connecting.
    public init?(argument: String) {
        self.init(argument)
    }

    /// Never shows a default (there is none, and it would be a secret).
    public var defaultValueDescription: String { "" }
}

/// The resolved configuration of one command invocation.
///
/// Its description and reflection show only the config file and the log level: the layers hold secrets (the
/// database URL, `AMC_KAFKA_PROPERTY_…` variables).
struct Settings: Sendable, CustomStringConvertible, CustomReflectable {
    /// The layered, type-checked values (flags, environment, file) for command-specific keys.
    let reader: ConfigValues
    let logLevel: Logger.Level
    /// The configuration file that was read, if any.
    var configFile: String? { reader.file?.path }
    /// The process environment (for the `AMC_KAFKA_PROPERTY_…` variables).
    var environment: [String: String] { reader.environment }

    var description: String { "Settings(configFile: \(configFile ?? "none"), logLevel: \(logLevel))" }

    var customMirror: Mirror {
        Mirror(self, children: ["configFile": configFile as Any, "logLevel": logLevel], displayStyle: .struct)
    }

    /// The database URL, or a clear error naming where to set it.
    func databaseURL() throws -> String {
        guard let url = try reader.string(forKey: "database.url"), !url.isEmpty else {
            throw CommandError("no database: pass --database-url or set AMC_DATABASE_URL")
        }
        return url
    }

    /// The Kafka bootstrap servers, or a clear error naming where to set them.
    func brokers() throws -> String {
        guard let brokers = try reader.string(forKey: "kafka.brokers"), !brokers.isEmpty else {
            throw CommandError("no Kafka brokers: pass --brokers or set AMC_KAFKA_BROKERS")
        }
        return brokers
    }

    /// The migrations folder: key `database.migrations`, else `Migrations/` in the working directory, else
    /// `share/amc/Migrations` beside the executable's folder.
    func migrationsDirectory() throws -> URL {
        if let configured = try reader.string(forKey: "database.migrations") {
            return URL(fileURLWithPath: configured, isDirectory: true)
        }
        let local = URL(fileURLWithPath: "Migrations", isDirectory: true)
        if FileManager.default.fileExists(atPath: local.path) { return local }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        return executable.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("share/amc/Migrations", isDirectory: true)
    }
}

extension GlobalOptions {
    /// Builds the configuration layers, checks the global keys and bootstraps logging. Call once per process.
    /// - Throws: ``CommandError`` for an unreadable or malformed config file, ``ConfigValueError`` for an invalid
    ///   `log.level` or `log.format`.
    func resolve(extra flags: FlagValues = FlagValues()) async throws -> Settings {
        var flags = flags
        flags.set("database.url", databaseURL?.unredacted, flag: "--database-url")
        flags.set("kafka.brokers", brokers, flag: "--brokers")
        flags.set("log.level", logLevel?.rawValue, flag: "--log-level")
        flags.set("log.format", logFormat?.rawValue, flag: "--log-format")

        let path = config ?? "Config/amc.json"
        let file = config != nil || FileManager.default.fileExists(atPath: path) ? try ConfigFile(path: path) : nil
        let reader = ConfigValues(flags: flags, environment: ProcessInfo.processInfo.environment, file: file)

        let levels = Logger.Level.allCases.map(\.rawValue)
        let level = Logger.Level(
            rawValue: try reader.string(forKey: "log.level", default: "info", oneOf: levels)
        )!
        let format = LogFormat(
            rawValue: try reader.string(
                forKey: "log.format",
                default: LogFormat.text.rawValue,
                oneOf: ["text", "json"]
            )
        )!
        LoggingBootstrap.once(level: level, format: format)
        return Settings(reader: reader, logLevel: level)
    }
}

/// How log records are written to stderr.
enum LogFormat: String, ExpressibleByArgument, Sendable {
    /// swift-log's human-readable lines.
    case text
    /// One JSON object per line (`timestamp`, `level`, `logger`, `message`, `source`, then the metadata).
    case json
}

/// Bootstraps swift-log exactly once per process (stderr, human-readable or JSON lines).
enum LoggingBootstrap {
    private static let done = Mutex(false)

    static func once(level: Logger.Level, format: LogFormat = .text) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        switch format {
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case .json:
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label, logLevel: level) }
        }
    }
}

/// Option values given on the command line: the highest-priority configuration layer. A value that was not
/// given (nil, or an empty repeatable option) is not set, so lower layers decide.
struct FlagValues: Sendable {
    private var values: [String: (value: TypedFlagValue, flag: String?)] = [:]

    /// The value given for `key`, with the option's name when known (for messages).
    func value(forKey key: String) -> (RawConfigValue, flag: String?)? {
        values[key].map { (.typed($0.value), $0.flag) }
    }

    /// Sets a string option. Whether its value may be shown in a message is the key's business
    /// (``ConfigValues/secretKeys``), not the caller's.
    mutating func set(_ key: String, _ value: String?, flag: String? = nil) {
        if let value { values[key] = (.string(value), flag) }
    }

    mutating func set(_ key: String, _ value: Int?, flag: String? = nil) {
        if let value { values[key] = (.int(value), flag) }
    }

    mutating func set(_ key: String, _ value: Double?, flag: String? = nil) {
        if let value { values[key] = (.double(value), flag) }
    }

    mutating func set(_ key: String, _ value: Bool?, flag: String? = nil) {
        if let value { values[key] = (.bool(value), flag) }
    }

    mutating func set(_ key: String, _ value: [String], flag: String? = nil) {
        if !value.isEmpty { values[key] = (.strings(value), flag) }
    }
}

extension Settings {
    /// The environment variables that carry librdkafka properties: `AMC_KAFKA_PROPERTY_SASL_PASSWORD` is
    /// `sasl.password` (the rest of the name lower-cased, `_` read as `.`).
    static let kafkaPropertyPrefix = "AMC_KAFKA_PROPERTY_"

    /// Extra librdkafka properties (TLS, SASL, timeouts, …): the config file's `kafka.properties` object, then the
    /// `AMC_KAFKA_PROPERTY_…` environment variables (which win). Values are passed through unchanged; the Kafka
    /// wrapper never logs those of secret keys.
    func kafkaProperties() throws -> [String: String] {
        var properties: [String: String] = [:]
        if let file = reader.file, let value = file.value(forKey: "kafka") {
            guard case .object(let kafka) = value else {
                throw CommandError("kafka (config file \(file.path)) must be an object, got \(value.kind)")
            }
            switch kafka["properties"] ?? .null {
            case .null: break
            case .object(let members):
                for (key, value) in members {
                    switch value {
                    case .string(let text): properties[key] = text
                    case .bool(let flag): properties[key] = flag ? "true" : "false"
                    case .integer(let number): properties[key] = String(number)
                    case .number(let number): properties[key] = String(number)
                    default:
                        throw CommandError(
                            "kafka.properties.\(key) (config file \(file.path)) must be a string, number or boolean, "
                                + "got \(value.kind)"
                        )
                    }
                }
            case let other:
                throw CommandError("kafka.properties (config file \(file.path)) must be an object, got \(other.kind)")
            }
        }
        for (name, value) in environment where name.hasPrefix(Self.kafkaPropertyPrefix) {
            let key = name.dropFirst(Self.kafkaPropertyPrefix.count).lowercased().replacingOccurrences(
                of: "_",
                with: "."
            )
            guard !key.isEmpty else { continue }
            properties[key] = value
        }
        return properties
    }

    /// The Kafka client settings: brokers plus ``kafkaProperties()``.
    func kafkaConfig() throws -> KafkaConfig {
        KafkaConfig(bootstrapServers: try brokers(), properties: try kafkaProperties())
    }
}

/// Described by the keys it sets, never by their values (`--database-url` holds a password).
extension FlagValues: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    var description: String { "FlagValues(keys: \(values.keys.sorted()))" }

    var debugDescription: String { description }

    var customMirror: Mirror { Mirror(self, children: ["keys": values.keys.sorted()]) }
}
