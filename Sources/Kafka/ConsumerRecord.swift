/// One message read by ``KafkaConsumer``, copied out of librdkafka's buffers.
public struct ConsumerRecord: Sendable {
    /// Topic the record was read from.
    public var topic: String
    /// Partition the record was read from.
    public var partition: Int32
    /// Offset of the record within its partition.
    public var offset: Int64
    /// Message key, `nil` if the message had none.
    public var key: [UInt8]?
    /// Message value; empty for a null (tombstone) value.
    public var value: [UInt8]
    /// Message timestamp (create or log-append time, milliseconds since the epoch), `nil` if not present.
    public var timestampMilliseconds: Int64?

    /// Creates a record (useful for tests of downstream code).
    public init(
        topic: String,
        partition: Int32,
        offset: Int64,
        key: [UInt8]?,
        value: [UInt8],
        timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// The record's topic-partition.
    public var topicPartition: TopicPartition {
        TopicPartition(topic: self.topic, partition: self.partition)
    }
}
