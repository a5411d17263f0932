import ClickLog
import Kafka

/// Sends click-log lines to a topic keyed by normalised query (design §3), so every click of a query lands in
/// the same partition. Lines that do not parse are still sent, unkeyed, so ingest dead-letters them with
/// their reason instead of the replay silently dropping them.
///
/// Every message carries its line's sequence number (``LineLocations``) as its delivery tag, so a line whose
/// delivery fails can be named by file and line.
public struct ClickPublisher {
    /// The producer the lines go through.
    public let producer: KafkaProducer
    /// The topic they go to.
    public let topic: String
    private let parser = ClickLogParser()
    /// Lines sent without a key because they did not parse.
    public private(set) var unparseable = 0
    /// Lines sent.
    public private(set) var sent = 0

    /// A publisher of lines to `topic`.
    public init(producer: KafkaProducer, topic: String) {
        self.producer = producer
        self.topic = topic
    }

    /// Sends one line (without its trailing newline). Empty lines are skipped and return false.
    /// - Parameters:
    ///   - line: The line's bytes.
    ///   - tag: The line's sequence number, returned with its failed delivery (nil: only counted).
    /// - Throws: ``KafkaError`` when librdkafka refuses the message; nothing was enqueued then.
    public mutating func publish(_ line: ArraySlice<UInt8>, tag: Int? = nil) throws -> Bool {
        var bytes = Array(line)
        if bytes.last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else { return false }
        let key: [UInt8]?
        let parsed: Bool
        switch parser.parse(bytes) {
        case .success(let event):
            key = Array(event.query.utf8)
            parsed = true
        case .failure:
            key = nil
            parsed = false
        }
        try producer.send(topic: topic, key: key, value: bytes, deliveryTag: tag)
        if !parsed { unparseable += 1 }
        sent += 1
        if sent % 1024 == 0 { producer.poll() }
        return true
    }
}

/// Maps the sequence numbers of lines read from several files, one after another, back to `FILE:LINE`.
public struct LineLocations {
    /// No files yet.
    public init() {}

    private var starts: [(first: Int, name: String)] = []

    /// Notes that the lines of `name` are numbered from `first` (its line 1).
    public mutating func begin(_ name: String, at first: Int) {
        starts.append((first, name))
    }

    /// `FILE:LINE` of the line numbered `tag`.
    public func location(of tag: Int) -> String {
        guard let file = starts.last(where: { $0.first <= tag }) else { return "line \(tag)" }
        return "\(file.name):\(tag - file.first + 1)"
    }
}
