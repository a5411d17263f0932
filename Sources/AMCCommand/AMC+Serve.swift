import ArgumentParser
import CommandSupport
import Foundation
import Logging
import Model
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

        func run() async throws {
            var flags = FlagValues()
            flags.set("serve.port", port, flag: "--port")
            flags.set("serve.host", host, flag: "--host")
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
    /// `serve.catalog-memory`: `unlimited`, or a positive number of bytes with an optional unit (`B`, `KB`, `MB`,
    /// `GB`, `TB` in powers of 1000; `KiB`, `MiB`, `GiB`, `TiB` in powers of 1024), e.g. `4GiB`, `1.5GB`, `500000000`.
    /// - Returns: The limit in bytes, nil when unlimited.
    /// - Throws: ``CommandError`` when the text is not a size.
    static func catalogMemory(_ text: String) throws -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "unlimited" { return nil }
        let units: [(suffix: String, scale: Double)] = [
            ("KiB", 0x1p10), ("MiB", 0x1p20), ("GiB", 0x1p30), ("TiB", 0x1p40),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
        ]
        let unit = units.first { trimmed.hasSuffix($0.suffix) }
        let number = String(trimmed.dropLast(unit?.suffix.count ?? 0)).trimmingCharacters(in: .whitespaces)
        guard let value = Double(number), value.isFinite, value * (unit?.scale ?? 1) >= 1,
            value * (unit?.scale ?? 1) < 9e18
        else {
            throw CommandError("serve.catalog-memory '\(text)' is not a size such as 4GiB, 500MB or 1073741824")
        }
        return Int(value * (unit?.scale ?? 1))
    }

    /// Scoring worker settings from the layered configuration, checked.
    func servingConfiguration() throws -> ServingConfiguration {
        var configuration = ServingConfiguration()
        configuration.host = try reader.nonEmptyString(forKey: "serve.host", default: configuration.host)
        configuration.port = try reader.int(forKey: "serve.port", default: configuration.port, bounds: .port)
        configuration.maxBodyBytes = try reader.int(
            forKey: "serve.max-body-bytes",
            default: configuration.maxBodyBytes,
            bounds: .atLeast(1)
        )
        configuration.maxQueryBytes = try reader.int(
            forKey: "serve.max-query-bytes",
            default: configuration.maxQueryBytes,
            bounds: .atLeast(1)
        )
        configuration.maxImages = try reader.int(
            forKey: "serve.max-images",
            default: configuration.maxImages,
            bounds: .atLeast(1)
        )
        configuration.maxConnections = try reader.int(
            forKey: "serve.max-connections",
            default: configuration.maxConnections,
            bounds: .atLeast(1)
        )
        configuration.rankingQueueCapacity = try reader.int(
            forKey: "serve.ranking-queue-capacity",
            default: configuration.rankingQueueCapacity,
            bounds: .atLeast(1)
        )
        configuration.shadowQueueCapacity = try reader.int(
            forKey: "serve.shadow-queue-capacity",
            default: configuration.shadowQueueCapacity,
            bounds: .atLeast(1)
        )
        configuration.rankingBatchSize = try reader.int(
            forKey: "serve.ranking-batch-size",
            default: configuration.rankingBatchSize,
            bounds: .atLeast(1)
        )
        if let seconds = try reader.double(forKey: "serve.header-timeout-seconds", bounds: .positiveSeconds) {
            configuration.headerTimeout = .seconds(seconds)
        }
        if let seconds = try reader.double(forKey: "serve.body-timeout-seconds", bounds: .positiveSeconds) {
            configuration.bodyTimeout = .seconds(seconds)
        }
        if let seconds = try reader.double(forKey: "serve.idle-timeout-seconds", bounds: .positiveSeconds) {
            configuration.idleTimeout = .seconds(seconds)
        }
        if let seconds = try reader.double(forKey: "serve.recheck-seconds", bounds: .positiveSeconds) {
            configuration.recheckInterval = .seconds(seconds)
        }
        if let seconds = try reader.double(forKey: "serve.catalog-refresh-seconds", bounds: .positiveSeconds) {
            configuration.catalogRefreshInterval = .seconds(seconds)
        }
        configuration.catalogEncoding = EncodingPrecision(
            rawValue: try reader.string(
                forKey: "serve.encoding",
                default: configuration.catalogEncoding.rawValue,
                oneOf: EncodingPrecision.allCases.map(\.rawValue)
            )
        )!
        configuration.catalogMemory = try Self.catalogMemory(
            reader.string(forKey: "serve.catalog-memory", default: "unlimited")
        )
        return configuration
    }
}
