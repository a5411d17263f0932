import ClickLog
import Kafka

/// Sends click-log lines to a topic keyed by normalised query (design §3), so every click of a query lands in
/// the same partition. Lines that do not parse are still sent, unkeyed, so ingest dead-letters them with
/// their reason instead of the replay silently dropping them.
struct ClickPublisher {
    let producer: KafkaProducer
    let topic: String
    private let parser = ClickLogParser()
    /// Lines sent without a key because they did not parse.
    private(set) var unparseable = 0
    /// Lines sent.
    private(set) var sent = 0

    init(producer: KafkaProducer, topic: String) {
        self.producer = producer
        self.topic = topic
    }

    /// Sends one line (without its trailing newline). Empty lines are skipped and return false.
    mutating func publish(_ line: ArraySlice<UInt8>) throws -> Bool {
        var bytes = Array(line)
        if bytes.last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else { return false }
        let key: [UInt8]?
        switch parser.parse(bytes) {
        case .success(let event): key = Array(event.query.utf8)
        case .failure:
            key = nil
            unparseable += 1
        }
        try producer.send(topic: topic, key: key, value: bytes)
        sent += 1
        if sent % 1024 == 0 { producer.poll() }
        return true
    }
}
