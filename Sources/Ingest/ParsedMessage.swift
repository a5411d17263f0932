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
    /// The event is dated by its own `ts`, else by the Kafka message timestamp, else by `receivedAtMicros`: the
    /// time ingest received it (for a dead letter being replayed, when ingest first received it). An event time
    /// outside the parser's bounds around `receivedAtMicros` is refused (`event_time_out_of_range`).
    /// - Parameters:
    ///   - record: The message and its Kafka position.
    ///   - receivedAtMicros: When the message was received, microseconds since the epoch.
    /// - Returns: The positioned event, or the dead letter with the parser's reason.
    func parse(_ record: ConsumerRecord, receivedAtMicros: Int64) -> ParsedMessage {
        switch parse(record.value) {
        case .success(let event):
            let micros: Int64
            let source: String
            if let ts = event.timestampMicros {
                (micros, source) = (ts, "field 'ts'")
            } else if let milliseconds = record.timestampMilliseconds {
                let (scaled, overflow) = milliseconds.multipliedReportingOverflow(by: 1000)
                (micros, source) = (overflow ? (milliseconds < 0 ? .min : .max) : scaled, "the Kafka message timestamp")
            } else {
                return .event(PositionedEvent(record: record, event: event, timeMicros: receivedAtMicros))
            }
            if let error = eventTimeProblem(micros, source: source, receivedAtMicros: receivedAtMicros) {
                return .invalid(
                    DeadLetter(record: record, reasonCode: error.reason.rawValue, reason: error.description)
                )
            }
            return .event(PositionedEvent(record: record, event: event, timeMicros: micros))
        case .failure(let error):
            return .invalid(DeadLetter(record: record, reasonCode: error.reason.rawValue, reason: error.description))
        }
    }
}
