import Crdkafka

/// Owns an `rd_kafka_topic_partition_list_t`; destroyed when the value goes away.
struct RDKafkaTopicPartitionList: ~Copyable {
    private let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// Creates an empty list with room for `capacity` entries.
    init(capacity: Int = 1) {
        self.pointer = rd_kafka_topic_partition_list_new(Int32(clamping: max(capacity, 1)))
    }

    deinit {
        rd_kafka_topic_partition_list_destroy(self.pointer)
    }

    /// Appends `partition` with `offset`.
    func add(_ partition: TopicPartition, offset: Int64) {
        let element = rd_kafka_topic_partition_list_add(self.pointer, partition.topic, partition.partition)!
        element.pointee.offset = offset
    }

    /// Scoped access to the C list; the pointer must not escape `body`.
    func withListPointer<T>(
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws -> T
    ) rethrows -> T {
        try body(self.pointer)
    }

    /// The entries copied into Swift values.
    var entries: [RDKafkaTopicPartitionEntry] {
        Self.entries(of: self.pointer)
    }

    /// Copies the entries of a list this type does not own (e.g. one passed to a callback).
    static func entries(
        of list: UnsafePointer<rd_kafka_topic_partition_list_t>?
    ) -> [RDKafkaTopicPartitionEntry] {
        guard let list, let elems = list.pointee.elems else { return [] }
        return (0..<Int(list.pointee.cnt)).map { index in
            let element = elems[index]
            return RDKafkaTopicPartitionEntry(
                partition: TopicPartition(topic: String(cString: element.topic), partition: element.partition),
                offset: element.offset,
                error: element.err
            )
        }
    }

    static func entries(
        of list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
    ) -> [RDKafkaTopicPartitionEntry] {
        Self.entries(of: list.map { UnsafePointer($0) })
    }
}

/// One element of an `rd_kafka_topic_partition_list_t`, copied out.
struct RDKafkaTopicPartitionEntry {
    var partition: TopicPartition
    var offset: Int64
    var error: rd_kafka_resp_err_t
}
