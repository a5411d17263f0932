/// One partition of one topic.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    /// Topic name.
    public var topic: String
    /// Partition number (0-based).
    public var partition: Int32

    /// Creates a topic-partition.
    /// - Parameters:
    ///   - topic: Topic name.
    ///   - partition: Partition number.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// `"topic[partition]"`.
    public var description: String {
        "\(self.topic)[\(self.partition)]"
    }
}
