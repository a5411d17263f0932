import ClickLog
import Kafka

/// A parsed message: a valid event or a dead letter.
enum ParsedMessage: Sendable {
    case event(PositionedEvent)
    case invalid(DeadLetter)

    var record: ConsumerRecord {
        switch self {
        case .event(let positioned): positioned.record
        case .invalid(let letter): letter.record
        }
    }
}

extension ClickLogParser {
    /// Parses and validates one Kafka message: the single code path of ingest and of dead-letter replay.
    ///
    /// The event is dated by its own `ts`, else by the Kafka message timestamp, else by `receivedAtMicros`
    /// (evaluated only then): the time ingest received it.
    /// - Parameters:
    ///   - record: The message and its Kafka position.
    ///   - receivedAtMicros: When the message was received, microseconds since the epoch.
    /// - Returns: The positioned event, or the dead letter with the parser's reason.
    func parse(_ record: ConsumerRecord, receivedAtMicros: @autoclosure () -> Int64) -> ParsedMessage {
        switch parse(record.value) {
        case .success(let event):
            let micros = event.timestampMicros ?? record.timestampMilliseconds.map { $0 * 1000 } ?? receivedAtMicros()
            return .event(PositionedEvent(record: record, event: event, timeMicros: micros))
        case .failure(let error):
            return .invalid(DeadLetter(record: record, reasonCode: error.reason.rawValue, reason: error.description))
        }
    }
}
