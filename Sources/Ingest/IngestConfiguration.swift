import ClickLog

/// Settings of one `amc ingest` consumer.
public struct IngestConfiguration: Sendable {
    /// Kafka consumer group shared by every ingest process of one deployment.
    /// Default: `amc-ingest`. Key: `ingest.group`.
    public var groupID = "amc-ingest"
    /// Static group membership: this process's `group.instance.id`, stable across its restarts (e.g. a pod's
    /// stable name in a StatefulSet). A restarted static member takes back its partitions without a rebalance; one
    /// that stops holds them until `session.timeout.ms` lapses. Unique within the group. Default: nil (dynamic
    /// membership). Key: `ingest.instance-id`.
    public var instanceID: String?
    /// Topics to consume. Default: `["clicks"]`. Key: `ingest.topic`.
    public var topics = ["clicks"]
    /// Most messages written in one PostgreSQL transaction. A batch closes at ``batchMaxLatency`` when the
    /// writer is free; while it is busy (a backlog) the batch grows up to this size. Default: 100000.
    /// Key: `ingest.batch.maxRecords`.
    public var batchMaxRecords = 100_000
    /// Longest a message waits in an open batch before the batch is written. Default: 200 ms.
    /// Key: `ingest.batch.maxLatencyMs`.
    public var batchMaxLatency: Duration = .milliseconds(200)
    /// Stop after this long without a new message (`--until-idle`). Default: nil (run until stopped).
    public var untilIdle: Duration?
    /// How long the consumer group may leave this process without an assignment (since it joined, or since its
    /// partitions were revoked) before a warning is logged. Default: 30 s. Key: `ingest.assignment.warnSeconds`.
    public var assignmentWarning: Duration = .seconds(30)
    /// How long without an assignment before an error is logged (again after every further such period); with
    /// ``untilIdle`` set, the run then fails instead of waiting forever. Default: 120 s.
    /// Key: `ingest.assignment.timeoutSeconds`.
    public var assignmentTimeout: Duration = .seconds(120)
    /// First wait before retrying a transient database failure; doubles up to ``retryMaxBackoff``. Default: 100 ms.
    public var retryInitialBackoff: Duration = .milliseconds(100)
    /// Longest wait between retries. Default: 5 s.
    public var retryMaxBackoff: Duration = .seconds(5)
    /// After a stop is requested, how long a batch in flight may keep retrying a failing database before the
    /// process gives up (nothing is lost: its offsets were not advanced). Default: 15 s.
    public var shutdownGracePeriod: Duration = .seconds(15)
    /// How often per-partition consumer lag is refreshed from the broker. Default: 5 s.
    public var lagRefreshInterval: Duration = .seconds(5)
    /// Size limits for messages. Default: ``ClickLogParser/Limits``'s defaults.
    public var parserLimits = ClickLogParser.Limits()

    public init() {}
}
