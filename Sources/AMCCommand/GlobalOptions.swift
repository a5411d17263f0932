import ArgumentParser
import Configuration
import Foundation
import Kafka
import Logging
import Synchronization
import SystemPackage

/// Options every subcommand takes. Each also has a config key; precedence is
/// flag > environment (`AMC_…`) > config file > built-in default.
struct GlobalOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL or conninfo (env AMC_DATABASE_URL, key database.url). Never printed.")
    var databaseURL: String?

    @Option(help: "Kafka bootstrap servers, host:port[,…] (env AMC_KAFKA_BROKERS, key kafka.brokers).")
    var brokers: String?

    @Option(help: "JSON configuration file (default: Config/amc.json when present).")
    var config: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (key log.level). Default: info.")
    var logLevel: Logger.Level?

    @Option(help: "Log format: text, or json for one JSON object per line (key log.format). Default: text.")
    var logFormat: LogFormat?
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// The resolved configuration of one command invocation.
struct Settings: Sendable {
    /// The layered reader (flags, environment, file) for command-specific keys.
    let reader: ConfigReader
    let logLevel: Logger.Level
    /// The configuration file that was read, if any.
    let configFile: String?
    /// The process environment (for the `AMC_KAFKA_PROPERTY_…` variables).
    let environment: [String: String]

    /// The database URL, or a clear error naming where to set it.
    func databaseURL() throws -> String {
        guard let url = reader.string(forKey: "database.url", isSecret: true), !url.isEmpty else {
            throw CommandError("no database: pass --database-url or set AMC_DATABASE_URL")
        }
        return url
    }

    /// The Kafka bootstrap servers, or a clear error naming where to set them.
    func brokers() throws -> String {
        guard let brokers = reader.string(forKey: "kafka.brokers"), !brokers.isEmpty else {
            throw CommandError("no Kafka brokers: pass --brokers or set AMC_KAFKA_BROKERS")
        }
        return brokers
    }

    /// The migrations folder: key `database.migrations`, else `Migrations/` in the working directory, else
    /// `share/amc/Migrations` beside the executable's folder.
    func migrationsDirectory() -> URL {
        if let configured = reader.string(forKey: "database.migrations") {
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
    /// Builds the provider hierarchy and bootstraps logging. Call once per process.
    func resolve(extra flags: FlagValues = FlagValues()) async throws -> Settings {
        var flags = flags
        flags.set("database.url", databaseURL, isSecret: true)
        flags.set("kafka.brokers", brokers)
        flags.set("log.level", logLevel?.rawValue)
        flags.set("log.format", logFormat?.rawValue)
        let values = flags.values

        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "flags", values: values),
            EnvironmentVariablesProvider(secretsSpecifier: .specific(["AMC_DATABASE_URL"])).prefixKeys(with: "amc"),
        ]
        let file = config ?? "Config/amc.json"
        providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(file), allowMissing: config == nil))
        let reader = ConfigReader(providers: providers)

        let levelName = reader.string(forKey: "log.level", default: "info")
        guard let level = Logger.Level(rawValue: levelName) else {
            throw CommandError("log.level '\(levelName)' is not a log level")
        }
        let formatName = reader.string(forKey: "log.format", default: LogFormat.text.rawValue)
        guard let format = LogFormat(rawValue: formatName) else {
            throw CommandError("log.format '\(formatName)' is not a log format (text, json)")
        }
        LoggingBootstrap.once(level: level, format: format)
        let fileRead = FileManager.default.fileExists(atPath: file) ? file : nil
        return Settings(
            reader: reader,
            logLevel: level,
            configFile: fileRead,
            environment: ProcessInfo.processInfo.environment
        )
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
struct FlagValues {
    private(set) var values: [AbsoluteConfigKey: ConfigValue] = [:]

    mutating func set(_ key: AbsoluteConfigKey, _ value: String?, isSecret: Bool = false) {
        if let value { values[key] = ConfigValue(.string(value), isSecret: isSecret) }
    }

    mutating func set(_ key: AbsoluteConfigKey, _ value: Int?) {
        if let value { values[key] = ConfigValue(.int(value), isSecret: false) }
    }

    mutating func set(_ key: AbsoluteConfigKey, _ value: Double?) {
        if let value { values[key] = ConfigValue(.double(value), isSecret: false) }
    }

    mutating func set(_ key: AbsoluteConfigKey, _ value: Bool?) {
        if let value { values[key] = ConfigValue(.bool(value), isSecret: false) }
    }

    mutating func set(_ key: AbsoluteConfigKey, _ value: [String]) {
        if !value.isEmpty { values[key] = ConfigValue(.stringArray(value), isSecret: false) }
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
        if let configFile {
            let data = try Data(contentsOf: URL(fileURLWithPath: configFile))
            do {
                let file = try JSONDecoder().decode(KafkaPropertiesFile.self, from: data)
                for (key, value) in file.kafka?.properties ?? [:] { properties[key] = value.text }
            } catch {
                throw CommandError(
                    "\(configFile): kafka.properties must be an object of strings, numbers or booleans"
                )
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

/// The part of a configuration file that holds librdkafka properties.
private struct KafkaPropertiesFile: Decodable {
    struct Kafka: Decodable {
        var properties: [String: Scalar]?
    }

    /// A property value, written as librdkafka reads it.
    struct Scalar: Decodable {
        var text: String

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let string = try? container.decode(String.self) {
                text = string
            } else if let bool = try? container.decode(Bool.self) {
                text = bool ? "true" : "false"
            } else if let integer = try? container.decode(Int64.self) {
                text = String(integer)
            } else {
                text = String(try container.decode(Double.self))
            }
        }
    }

    var kafka: Kafka?
}
