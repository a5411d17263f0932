/// Running totals of one ingest process, reported after every committed transaction.
public struct IngestProgress: Sendable, Equatable {
    /// Valid events committed.
    public var events = 0
    /// Messages dead-lettered.
    public var deadLetters = 0
    /// Messages skipped because their position was already stored (re-read after an offset moved back).
    public var alreadyStored = 0
    /// Offset ranges recorded as lost.
    public var gaps = 0
    /// Transactions committed.
    public var batches = 0
    /// Transient failures retried.
    public var retries = 0
    /// Kafka timestamps (ms since the epoch) of the messages the latest transaction committed, for measuring
    /// click-to-visible latency.
    public var lastBatchMessageTimestamps: [Int64] = []
    /// When the latest transaction committed (its rows became visible), milliseconds since the epoch.
    public var lastBatchCommittedAt: Int64 = 0

    public init() {}
}
