import Crdkafka

/// Where to start reading an assigned partition.
public enum KafkaOffset: Sendable, Hashable {
    /// The oldest offset still retained by the broker (`RD_KAFKA_OFFSET_BEGINNING`).
    case beginning
    /// The next offset to be written, i.e. only new messages (`RD_KAFKA_OFFSET_END`).
    case end
    /// A concrete offset: the next record to read.
    ///
    /// If it lies outside the log (e.g. below the broker's log start after retention/trimming), the broker answers
    /// `OFFSET_OUT_OF_RANGE` and librdkafka applies `auto.offset.reset` (`earliest` by default in ``KafkaConsumer``).
    case absolute(Int64)

    var rdKafkaOffset: Int64 {
        switch self {
        case .beginning: Int64(RD_KAFKA_OFFSET_BEGINNING)
        case .end: Int64(RD_KAFKA_OFFSET_END)
        case .absolute(let offset): offset
        }
    }
}
