import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// The scoring worker's HTTP application (design §5): routes, validation, the model watcher as a service.
///
/// One ``buildApplication(configuration:databaseURL:holder:metrics:logger:onServerRunning:)`` is used by
/// `amc serve` and by the tests. Routes: `POST /v1/score`, `GET /v1/model`, `GET /healthz`, `GET /readyz`,
/// `GET /metrics`; every ranking returned is recorded off the request path (``RankingRecorder``); running online
/// experiments are followed (shadow scoring off the request path, ``ShadowScorer``; team-draft interleaving,
/// ``TeamDraft``); limits and error statuses are documented in `Docs/serving.md`, and the whole contract in
/// `Docs/openapi.yaml`.
public enum ScoringAPI {
    /// The response header naming the model version that produced a response.
    public static let versionHeader = HTTPFields.Element.Name("AMC-Model-Version")!

    /// The `POST /v1/score` response body for a scoring result, byte for byte as the route writes it (`amc explain
    /// --json` prints it).
    /// - Parameters:
    ///   - modelVersion: The version that computed `result`.
    ///   - result: The scored (and possibly explained) images.
    ///   - rankingID: The response's `ranking_id`; nil leaves the field out (`amc explain` serves no ranking).
    /// - Returns: The JSON body, UTF-8.
    public static func scoreResponseBody(
        modelVersion: Int64,
        result: ScoringResult,
        rankingID: String?
    ) throws -> [UInt8] {
        Array(try jsonBytes(ScoreResponse(modelVersion: modelVersion, rankingID: rankingID, result)))
    }

    /// Builds the application: the HTTP server plus a ``ModelWatcher`` service feeding `holder` and a
    /// ``RankingRecorder`` writing the rankings it returns.
    ///
    /// Run it as a `Service` inside a `ServiceGroup` (or with `runService()`); on graceful shutdown the server
    /// stops accepting connections and finishes the requests in flight, then the watcher stops.
    /// - Parameters:
    ///   - configuration: Address, limits and watcher intervals.
    ///   - databaseURL: PostgreSQL URL or conninfo of a migrated database.
    ///   - holder: The served snapshot (a new, empty one by default).
    ///   - metrics: The metrics `GET /metrics` renders.
    ///   - logger: The server's and the watcher's logger.
    ///   - onServerRunning: Called with the bound port once the server listens.
    /// - Returns: The application.
    public static func buildApplication(
        configuration: ServingConfiguration,
        databaseURL: String,
        holder: ModelHolder = ModelHolder(),
        metrics: ServingMetrics = ServingMetrics(),
        logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        build(
            configuration: configuration,
            databaseURL: databaseURL,
            holder: holder,
            metrics: metrics,
            logger: logger,
            onServerRunning: onServerRunning,
            beforeScoring: nil
        )
    }

    /// ``buildApplication(configuration:databaseURL:holder:metrics:logger:onServerRunning:)`` with a hook that
    /// runs inside every `POST /v1/score` after its snapshot was taken (tests hold requests in flight with it).
    @_spi(Testing)
    public static func buildApplication(
        configuration: ServingConfiguration,
        databaseURL: String,
        holder: ModelHolder = ModelHolder(),
        metrics: ServingMetrics = ServingMetrics(),
        logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in },
        beforeScoring: @escaping @Sendable () async -> Void
    ) -> some ApplicationProtocol {
        build(
            configuration: configuration,
            databaseURL: databaseURL,
            holder: holder,
            metrics: metrics,
            logger: logger,
            onServerRunning: onServerRunning,
            beforeScoring: beforeScoring
        )
    }

    /// ``buildApplication(configuration:databaseURL:holder:metrics:logger:onServerRunning:)`` with a hook that runs
    /// on the shadow scorer's thread before each shadow job (tests hold shadow jobs pending with it).
    @_spi(Testing)
    public static func buildApplication(
        configuration: ServingConfiguration,
        databaseURL: String,
        holder: ModelHolder = ModelHolder(),
        metrics: ServingMetrics = ServingMetrics(),
        logger: Logger,
        beforeShadowScoring: @escaping @Sendable () -> Void
    ) -> some ApplicationProtocol {
        build(
            configuration: configuration,
            databaseURL: databaseURL,
            holder: holder,
            metrics: metrics,
            logger: logger,
            onServerRunning: { _ in },
            beforeScoring: nil,
            beforeShadowScoring: beforeShadowScoring
        )
    }

    private static func build(
        configuration: ServingConfiguration,
        databaseURL: String,
        holder: ModelHolder,
        metrics: ServingMetrics,
        logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void,
        beforeScoring: (@Sendable () async -> Void)?,
        beforeShadowScoring: (@Sendable () -> Void)? = nil
    ) -> some ApplicationProtocol {
        let watcher = ModelWatcher(
            databaseURL: databaseURL,
            configuration: configuration,
            holder: holder,
            metrics: metrics,
            logger: logger
        )
        let recorder = RankingRecorder(
            databaseURL: databaseURL,
            configuration: configuration,
            metrics: metrics,
            logger: logger
        )
        let shadowScorer = ShadowScorer(
            configuration: configuration,
            recorder: recorder,
            metrics: metrics,
            beforeScoring: beforeShadowScoring
        )
        let routes = ScoringRoutes(
            configuration: configuration,
            holder: holder,
            metrics: metrics,
            recorder: recorder,
            shadowScorer: shadowScorer,
            beforeScoring: beforeScoring
        )
        let registry = ConnectionRegistry(
            limit: ConnectionRegistry.effectiveLimit(configured: configuration.maxConnections, logger: logger)
        )
        let channel = HTTP1Channel.Configuration(
            additionalChannelHandlers: [
                ConnectionGuardHandler(
                    registry: registry,
                    metrics: metrics,
                    headerTimeout: configuration.headerTimeout,
                    bodyTimeout: configuration.bodyTimeout
                )
            ],
            idleTimeout: TimeAmount(configuration.idleTimeout)
        )
        return Application(
            router: routes.router(),
            server: .http1(configuration: channel),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "amc-serve"
            ),
            // The application stops its services after the server (in reverse order): the shadow scorer first (it
            // drops what is queued), then the recorder, which flushes the rankings of the last requests.
            services: [watcher, recorder, shadowScorer],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }
}
