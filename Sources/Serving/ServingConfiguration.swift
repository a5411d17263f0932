import Model

/// Settings of one scoring worker (`amc serve`); defaults and keys are listed in `Docs/serving.md`.
public struct ServingConfiguration: Sendable, Hashable {
    /// Address to bind.
    /// Default: 127.0.0.1. Key: `serve.host`.
    public var host = "127.0.0.1"
    /// TCP port to bind (0 picks a free one).
    /// Default: 8080. Key: `serve.port`.
    public var port = 8080
    /// Largest accepted request body, in bytes; larger bodies get 413.
    /// Default: 1 MiB. Key: `serve.max-body-bytes`.
    public var maxBodyBytes = 1 << 20
    /// Longest accepted query, in UTF-8 bytes before normalisation; longer ones get 400.
    /// Default: 1024. Key: `serve.max-query-bytes`.
    public var maxQueryBytes = 1024
    /// Most image keys per request; more get 400.
    /// Default: 1000. Key: `serve.max-images`.
    public var maxImages = 1000
    /// Longest wait from a connection's accept to its complete request head; a client still sending it then is
    /// disconnected.
    /// Default: 10 s. Key: `serve.header-timeout-seconds`.
    public var headerTimeout: Duration = .seconds(10)
    /// Longest wait from a request's head to the end of its body; a client still sending it then is disconnected.
    /// Default: 30 s. Key: `serve.body-timeout-seconds`.
    public var bodyTimeout: Duration = .seconds(30)
    /// How long a keep-alive connection may wait for its next request (or a request for its next part) before it is
    /// closed.
    /// Default: 60 s. Key: `serve.idle-timeout-seconds`.
    public var idleTimeout: Duration = .seconds(60)
    /// Most open client connections. A connection over the limit takes the place of the oldest one that is still
    /// sending its request head, idle, or still sending its body (in that order); when every connection has a
    /// request being answered, it is closed at once. Keep it below the process's descriptor limit (`ulimit -n`).
    /// Default: 1000. Key: `serve.max-connections`.
    public var maxConnections = 1000
    /// How often the active version is re-read even without a notification (a missed `NOTIFY`, a dropped
    /// connection).
    /// Default: 5 s. Key: `serve.recheck-seconds`.
    public var recheckInterval: Duration = .seconds(5)
    /// How often the catalog's revision is checked; a changed catalog is reloaded and re-encoded.
    /// Default: 60 s. Key: `serve.catalog-refresh-seconds`.
    public var catalogRefreshInterval: Duration = .seconds(60)
    /// How each catalog image's encodings are stored in memory: `float32` (exact: scores bit-identical to scoring
    /// raw features), `float16` (half the memory, NDCG@5 within 1e-3) or `int8` (8 bits with a scale per 32
    /// values: 28% of the memory, a larger error); measurements in `Docs/serving.md`.
    /// Default: float16. Key: `serve.encoding`.
    public var catalogEncoding: EncodingPrecision = .float16
    /// Most bytes of image encodings one encoded catalog holds; beyond it the catalog is a cache: the least recently
    /// scored images are evicted, and a request's images that are not resident are read from PostgreSQL (one query
    /// per request) and encoded. During a swap to a version with other image encoders two catalogs exist, each
    /// within the budget. nil: every image resident, nothing evicted.
    /// Default: nil (unlimited). Key: `serve.catalog-memory` (`unlimited`, or bytes with an optional unit: `4GiB`).
    public var catalogMemory: Int?
    /// Most returned rankings waiting to be recorded; a ranking returned while the queue is full is not recorded
    /// (counted in `amc_serve_rankings_dropped_total`), and its response is unaffected.
    /// Default: 10000. Key: `serve.ranking-queue-capacity`.
    public var rankingQueueCapacity = 10_000
    /// Most rankings written in one `COPY`.
    /// Default: 1000. Key: `serve.ranking-batch-size`.
    public var rankingBatchSize = 1000
    /// Most sampled requests waiting for shadow scoring; a request sampled while the queue is full is not
    /// shadow-scored (counted in `amc_serve_shadow_dropped_total`), and its response is unaffected.
    /// Default: 1000. Key: `serve.shadow-queue-capacity`.
    public var shadowQueueCapacity = 1000
    /// Longest wait on graceful shutdown for the queued rankings to be written; what is left then is dropped.
    /// Default: 5 s.
    public var rankingDrainTimeout: Duration = .seconds(5)
    /// Longest wait between reconnection attempts to PostgreSQL (the delay starts at 100 ms and doubles).
    /// Default: 5 s.
    public var maxReconnectDelay: Duration = .seconds(5)

    /// The defaults.
    public init() {}
}
