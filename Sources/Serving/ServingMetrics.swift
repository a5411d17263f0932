import Prometheus
import Registry

/// The scoring worker's metrics, in its own Prometheus registry (served by `GET /metrics`).
///
/// Names (all prefixed `amc_serve_`): `requests_total{route,status}`, `request_duration_seconds{route}`
/// (histogram), `model_version`, `model_swaps_total`, `model_load_refusals_total`, `catalog_images`,
/// `catalog_reloads_total`, `catalog_cache_hits_total`, `catalog_cache_misses_total`, `catalog_cache_evictions_total`,
/// `catalog_cache_bytes`, `catalog_memory_budget_bytes`, `listener_reconnects_total`, `connections`, `connections_closed_total{reason}`,
/// and attribution's `rankings_recorded_total`, `rankings_dropped_total`, `ranking_write_errors_total`,
/// `ranking_queue_depth`, and online experiments' `shadow_scored_total`, `shadow_dropped_total`, `shadow_queue_depth`,
/// `interleaved_total`, `experiment_load_refusals_total` and `experiment_candidate_version{kind}`. Routes are the registered patterns, never raw paths, so label cardinality stays bounded.
public final class ServingMetrics: Sendable {
    /// The registry `GET /metrics` renders.
    public let registry: PrometheusCollectorRegistry
    let modelVersion: Gauge
    let swaps: Counter
    let refusedLoads: Counter
    let catalogImages: Gauge
    let catalogReloads: Counter
    let catalogCacheHits: Counter
    let catalogCacheMisses: Counter
    let catalogCacheEvictions: Counter
    let catalogCacheBytes: Gauge
    let catalogMemoryBudget: Gauge
    let reconnects: Counter
    let connections: Gauge
    let rankingsRecorded: Counter
    let rankingsDropped: Counter
    let rankingWriteErrors: Counter
    let rankingQueueDepth: Gauge
    let shadowScored: Counter
    let shadowDropped: Counter
    let shadowQueueDepth: Gauge
    let interleaved: Counter
    let experimentRefusals: Counter

    /// Latency buckets of `amc_serve_request_duration_seconds`.
    static let latencyBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5),
    ]

    /// - Parameter registry: Where to register; default: a new registry of its own.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        modelVersion = registry.makeGauge(
            descriptor: Self.name("model", "version", "The model version being served (0 before the first load).")
        )
        swaps = registry.makeCounter(
            descriptor: Self.name("model_swaps", "total", "Model versions or catalogs swapped in.")
        )
        refusedLoads = registry.makeCounter(
            descriptor: Self.name("model_load_refusals", "total", "Active versions refused (sha256, format, shape).")
        )
        catalogImages = registry.makeGauge(
            descriptor: Self.name("catalog", "images", "Images in the served catalog.")
        )
        catalogReloads = registry.makeCounter(
            descriptor: Self.name("catalog_reloads", "total", "Catalog reloads after a revision change.")
        )
        catalogCacheHits = registry.makeCounter(
            descriptor: Self.name("catalog_cache_hits", "total", "Requested catalog images found encoded in memory.")
        )
        catalogCacheMisses = registry.makeCounter(
            descriptor: Self.name(
                "catalog_cache_misses",
                "total",
                "Requested catalog images not in memory (beyond serve.catalog-memory): read from the database and "
                    + "encoded, or taken from another request's read of them."
            )
        )
        catalogCacheEvictions = registry.makeCounter(
            descriptor: Self.name(
                "catalog_cache_evictions",
                "total",
                "Encoded images dropped, least recently scored first, to stay within serve.catalog-memory."
            )
        )
        catalogCacheBytes = registry.makeGauge(
            descriptor: Self.name("catalog_cache", "bytes", "Bytes of image encodings held by the served catalog.")
        )
        catalogMemoryBudget = registry.makeGauge(
            descriptor: Self.name(
                "catalog_memory_budget",
                "bytes",
                "serve.catalog-memory: most bytes of encodings one catalog holds (0: unlimited)."
            )
        )
        reconnects = registry.makeCounter(
            descriptor: Self.name("listener_reconnects", "total", "Reconnections of the activation listener.")
        )
        connections = registry.makeGauge(descriptor: Self.name("connections", "", "Open client connections."))
        rankingsRecorded = registry.makeCounter(
            descriptor: Self.name("rankings_recorded", "total", "Returned rankings written to the rankings table.")
        )
        rankingsDropped = registry.makeCounter(
            descriptor: Self.name(
                "rankings_dropped",
                "total",
                "Returned rankings not recorded: the queue was full, or the database refused their batch."
            )
        )
        rankingWriteErrors = registry.makeCounter(
            descriptor: Self.name("ranking_write_errors", "total", "Failed attempts to write a batch of rankings.")
        )
        rankingQueueDepth = registry.makeGauge(
            descriptor: Self.name("ranking_queue_depth", "", "Rankings waiting to be written.")
        )
        shadowScored = registry.makeCounter(
            descriptor: Self.name(
                "shadow_scored",
                "total",
                "Requests scored with the shadow experiment's candidate (a shadow ranking recorded)."
            )
        )
        shadowDropped = registry.makeCounter(
            descriptor: Self.name(
                "shadow_dropped",
                "total",
                "Requests sampled for shadow scoring but not scored: the queue was full, or the worker stopped."
            )
        )
        shadowQueueDepth = registry.makeGauge(
            descriptor: Self.name("shadow_queue_depth", "", "Sampled requests waiting for shadow scoring.")
        )
        interleaved = registry.makeCounter(
            descriptor: Self.name(
                "interleaved",
                "total",
                "Requests answered with the active and candidate versions' rankings merged by team draft."
            )
        )
        experimentRefusals = registry.makeCounter(
            descriptor: Self.name(
                "experiment_load_refusals",
                "total",
                "Experiment candidates refused (sha256, format, shape): the experiment is not followed."
            )
        )
        for reason in ConnectionCloseReason.allCases { connectionClosed(reason, count: 0) }
        for kind in ExperimentKind.allCases { experimentCandidate(kind, version: nil) }
    }

    /// Counts a connection the server closed: a timeout, or the connection limit.
    func connectionClosed(_ reason: ConnectionCloseReason, count: Int = 1) {
        registry.makeCounter(
            descriptor: Self.name(
                "connections_closed",
                "total",
                "Client connections closed by the server, by reason (timeouts, connection limit)."
            ),
            labels: [("reason", reason.rawValue)]
        ).increment(by: Int64(count))
    }

    /// Sets the candidate version of the followed experiment of `kind` (0 when none is followed).
    func experimentCandidate(_ kind: ExperimentKind, version: Int64?) {
        registry.makeGauge(
            descriptor: Self.name(
                "experiment_candidate",
                "version",
                "The candidate version of the running experiment this worker follows, by kind (0: none)."
            ),
            labels: [("kind", kind.rawValue)]
        ).set(Double(version ?? 0))
    }

    /// Counts one request and records its latency (when it has one: a request the client abandoned has none).
    func record(route: String, status: Int, duration: Duration?) {
        registry.makeCounter(
            descriptor: Self.name("requests", "total", "HTTP requests by route and status."),
            labels: [("route", route), ("status", String(status))]
        ).increment()
        guard let duration else { return }
        registry.makeDurationHistogram(
            descriptor: Self.name("request_duration", "seconds", "HTTP request latency by route."),
            labels: [("route", route)],
            buckets: Self.latencyBuckets
        ).record(duration)
    }

    /// The metrics in the Prometheus text exposition format.
    public func render() -> String { registry.emitToString() }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "amc", subsystem: "serve", metricName: metric, unitName: unit, helpText: help)
    }
}

/// Why the server closed a client connection (`amc_serve_connections_closed_total{reason}`).
enum ConnectionCloseReason: String, CaseIterable, Sendable {
    /// The request head was not complete within ``ServingConfiguration/headerTimeout`` of the accept.
    case headerTimeout = "header_timeout"
    /// The body was not complete within ``ServingConfiguration/bodyTimeout`` of the head.
    case bodyTimeout = "body_timeout"
    /// Closed to make room for a new connection at ``ServingConfiguration/maxConnections``.
    case evicted
    /// A new connection over ``ServingConfiguration/maxConnections`` with no connection to take the place of.
    case refused
}
