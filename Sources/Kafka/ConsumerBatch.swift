/// Result of one blocking ``KafkaConsumer/pollBatch(maxRecords:timeout:)``.
public struct ConsumerBatch: Sendable {
    /// Records in the order librdkafka delivered them (in offset order within each partition).
    public var records: [ConsumerRecord]
    /// Consumer-level errors (e.g. a broker down, offset out of range) that did not stop consumption.
    public var errors: [KafkaError]

    /// Creates a batch.
    public init(records: [ConsumerRecord] = [], errors: [KafkaError] = []) {
        self.records = records
        self.errors = errors
    }
}
