import ArgumentParser
import Configuration
import Logging
import ServiceLifecycle
import Serving
import UnixSignals

extension AMC {
    /// `amc serve`: the scoring worker (HTTP), serving the active model version with hot swaps.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve POST /v1/score with the active model version, hot-swapping on activation."
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "TCP port to listen on; 0 picks a free one (key serve.port). Default: 8080.")
        var port: Int?

        @Option(help: "Address to bind (key serve.host). Default: 127.0.0.1.")
        var host: String?

        func validate() throws {
            if let port, !(0...65535).contains(port) { throw ValidationError("--port must be in 0...65535") }
        }

        func run() async throws {
            var flags = FlagValues()
            flags.set("serve.port", port)
            flags.set("serve.host", host)
            let settings = try await options.resolve(extra: flags)
            let configuration = try settings.servingConfiguration()
            let databaseURL = try settings.databaseURL()
            // Before anything loads: a busy or forbidden address is one clear line, not a bind error later.
            try await ScoringAPI.checkListenAddress(host: configuration.host, port: configuration.port)
            let logger = Logger(label: "amc.serve")
            let app = ScoringAPI.buildApplication(
                configuration: configuration,
                databaseURL: databaseURL,
                logger: logger,
                onServerRunning: { port in
                    logger.info(
                        "Scoring worker listening",
                        metadata: ["amc.serve.address": "\(configuration.host):\(port)"]
                    )
                }
            )
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: app, successTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        }
    }
}

extension Settings {
    /// Scoring worker settings from the layered configuration, checked.
    func servingConfiguration() throws -> ServingConfiguration {
        var configuration = ServingConfiguration()
        configuration.host = reader.string(forKey: "serve.host", default: configuration.host)
        configuration.port = reader.int(forKey: "serve.port", default: configuration.port)
        guard (0...65535).contains(configuration.port) else { throw CommandError("serve.port must be in 0...65535") }
        configuration.maxBodyBytes = reader.int(forKey: "serve.max-body-bytes", default: configuration.maxBodyBytes)
        configuration.maxQueryBytes = reader.int(forKey: "serve.max-query-bytes", default: configuration.maxQueryBytes)
        configuration.maxImages = reader.int(forKey: "serve.max-images", default: configuration.maxImages)
        configuration.maxConnections = reader.int(
            forKey: "serve.max-connections",
            default: configuration.maxConnections
        )
        for (key, value) in [
            ("serve.max-body-bytes", configuration.maxBodyBytes),
            ("serve.max-query-bytes", configuration.maxQueryBytes),
            ("serve.max-images", configuration.maxImages),
            ("serve.max-connections", configuration.maxConnections),
        ] where value < 1 {
            throw CommandError("\(key) must be at least 1")
        }
        if let seconds = reader.double(forKey: "serve.header-timeout-seconds") {
            guard seconds > 0 else { throw CommandError("serve.header-timeout-seconds must be positive") }
            configuration.headerTimeout = .seconds(seconds)
        }
        if let seconds = reader.double(forKey: "serve.body-timeout-seconds") {
            guard seconds > 0 else { throw CommandError("serve.body-timeout-seconds must be positive") }
            configuration.bodyTimeout = .seconds(seconds)
        }
        if let seconds = reader.double(forKey: "serve.idle-timeout-seconds") {
            guard seconds > 0 else { throw CommandError("serve.idle-timeout-seconds must be positive") }
            configuration.idleTimeout = .seconds(seconds)
        }
        if let seconds = reader.double(forKey: "serve.recheck-seconds") {
            guard seconds > 0 else { throw CommandError("serve.recheck-seconds must be positive") }
            configuration.recheckInterval = .seconds(seconds)
        }
        if let seconds = reader.double(forKey: "serve.catalog-refresh-seconds") {
            guard seconds > 0 else { throw CommandError("serve.catalog-refresh-seconds must be positive") }
            configuration.catalogRefreshInterval = .seconds(seconds)
        }
        return configuration
    }
}
