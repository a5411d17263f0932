import ArgumentParser
import Configuration
import Foundation
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
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// The resolved configuration of one command invocation.
struct Settings: Sendable {
    /// The layered reader (flags, environment, file) for command-specific keys.
    let reader: ConfigReader
    let logLevel: Logger.Level

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
        LoggingBootstrap.once(level: level)
        return Settings(reader: reader, logLevel: level)
    }
}

/// Bootstraps swift-log exactly once per process (stderr, human-readable).
enum LoggingBootstrap {
    private static let done = Mutex(false)

    static func once(level: Logger.Level) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
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
