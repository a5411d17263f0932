import ClickLog
import Foundation
import Kafka
import Logging
import Postgres
import Synchronization
import TestSupport
import Testing

@testable import Ingest

/// Produces `lines` (keyed by `key(line)`) and waits for delivery.
func produce(_ lines: [[UInt8]], keys: [[UInt8]?], topic: String, brokers: String) throws {
    let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: brokers), logger: testLogger)
    for (line, key) in zip(lines, keys) {
        try producer.send(topic: topic, key: key, value: line)
    }
    try producer.flush(timeout: .seconds(60))
    guard producer.failedCount == 0 else { throw TestFailure("\(producer.failedCount) messages not delivered") }
}

/// Row counts of the ingest tables.
struct Totals: Equatable, CustomStringConvertible {
    var events = 0
    var deadLetters = 0
    var pairs = 0
    var clicks = 0
    var gaps = 0
    var description: String {
        "events=\(events) deadLetters=\(deadLetters) pairs=\(pairs) clicks=\(clicks) gaps=\(gaps)"
    }
}

func totals(_ url: String) throws -> Totals {
    let connection = try PostgresConnection.connect(url, retryingFor: .seconds(60), logger: testLogger)
    defer { connection.close() }
    let row = try connection.query(
        """
        SELECT (SELECT count(*) FROM click_events), (SELECT count(*) FROM dead_letters),
               (SELECT count(*) FROM relevance_pairs), (SELECT coalesce(sum(clicks), 0)::bigint FROM relevance_pairs),
               (SELECT count(*) FROM ingest_gaps)
        """
    )[0]
    return Totals(
        events: try row.decode(Int.self, column: 0),
        deadLetters: try row.decode(Int.self, column: 1),
        pairs: try row.decode(Int.self, column: 2),
        clicks: try row.decode(Int.self, column: 3),
        gaps: try row.decode(Int.self, column: 4)
    )
}

/// A deterministic click log: `count` triad lines over `queries` queries, with every `badEvery`-th line malformed.
struct ClickLogFixture {
    var lines: [[UInt8]] = []
    var keys: [[UInt8]?] = []
    /// Expected (query, image) → clicks, computed independently of the product's code.
    var expectedPairs: [String: Int] = [:]
    var validCount = 0
    var invalid: [(offsetIndex: Int, reason: String)] = []

    init(count: Int, queries: Int = 37, badEvery: Int = 0, seed: UInt64 = 1) {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let badSamples: [(String, String)] = [
            ("img1\tsome query\t0", "invalid_click_count"),
            ("img1\tsome query", "field_count"),
            ("{\"query\": \"x\", \"image\": 5}", "invalid_field"),
            ("img1\tsome query\tlots", "invalid_click_count"),
            ("{\"query\": \"x\"", "invalid_json"),
            ("img1\t   \t3", "empty_query"),
        ]
        for index in 0..<count {
            if badEvery > 0, index % badEvery == badEvery - 1 {
                let sample = badSamples[invalid.count % badSamples.count]
                lines.append(Array(sample.0.utf8))
                keys.append(nil)
                invalid.append((index, sample.1))
                continue
            }
            let q = Int(next() % UInt64(queries))
            let image = "i\(q)_\(next() % 5)"
            let clicks = Int(next() % 3) + 1
            let rawQuery = q % 3 == 0 ? "  Query  \(q) " : "query \(q)"
            let query = "query \(q)"
            lines.append(Array("\(image)\t\(rawQuery)\t\(clicks)".utf8))
            keys.append(Array(query.utf8))
            expectedPairs["\(query)|\(image)", default: 0] += clicks
            validCount += 1
        }
    }
}

/// Checks that exactly the fixture landed: every valid event once, every malformed message dead-lettered once,
/// no lost offset ranges, and pairs equal to the fixture's independent tally.
func expectExactlyOnce(
    _ fixture: ClickLogFixture,
    in url: String,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let landed = try totals(url)
    #expect(landed.events == fixture.validCount, sourceLocation: sourceLocation)
    #expect(landed.deadLetters == fixture.invalid.count, sourceLocation: sourceLocation)
    #expect(landed.gaps == 0, sourceLocation: sourceLocation)
    #expect(try storedPairs(url) == fixture.expectedPairs, sourceLocation: sourceLocation)
}

/// The latest progress an ingest reported.
final class ProgressBox: Sendable {
    let value = Mutex(IngestProgress())
    var current: IngestProgress { value.withLock { $0 } }
}

/// Starts an `IngestService` in a task; returns the task and a box with its latest progress.
func startIngest(
    url: String,
    brokers: String,
    topic: String,
    group: String = "test",
    untilIdle: Duration? = nil,
    batch: Int = 500,
    parserLimits: ClickLogParser.Limits = ClickLogParser.Limits(),
    instanceID: String? = nil,
    properties: [String: String] = [:]
) -> (Task<Void, any Error>, ProgressBox) {
    var configuration = IngestConfiguration()
    configuration.topics = [topic]
    configuration.groupID = group
    configuration.instanceID = instanceID
    configuration.batchMaxRecords = batch
    configuration.batchMaxLatency = .milliseconds(50)
    configuration.untilIdle = untilIdle
    configuration.parserLimits = parserLimits
    configuration.retryInitialBackoff = .milliseconds(50)
    configuration.retryMaxBackoff = .milliseconds(500)
    let progress = ProgressBox()
    let service = IngestService(
        configuration: configuration,
        kafka: KafkaConfig(bootstrapServers: brokers, properties: properties),
        databaseURL: url,
        logger: testLogger,
        onProgress: { latest in progress.value.withLock { $0 = latest } }
    )
    let task = Task { try await service.run() }
    return (task, progress)
}

/// Once every message of `fixture` is accounted for in the database (an event or a dead letter), stops the ingest
/// `task` gracefully and waits for it. Streaming tests use this instead of an idle window: how long a loaded machine
/// takes to deliver the first or the last message is not the test's business.
func stopOnceAccountedFor(_ task: Task<Void, any Error>, _ fixture: ClickLogFixture, in url: String) async throws {
    let accounted = try await blocking {
        try eventually(timeout: .seconds(180)) {
            let totals = try totals(url)
            return totals.events + totals.deadLetters >= fixture.lines.count
        }
    }
    task.cancel()
    try await task.value
    #expect(accounted, "every message became an event or a dead letter")
}

/// Produces `lines` at `perSecond` on a thread of its own, so tests can act while the stream is flowing.
func producePaced(
    _ lines: [[UInt8]],
    keys: [[UInt8]?],
    topic: String,
    brokers: String,
    perSecond: Int
) -> Task<Void, any Error> {
    Task {
        try await blocking {
            let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: brokers), logger: testLogger)
            // Paced in steps of 100 messages. After a stall (a busy machine) the pace resumes from now instead of
            // catching up in one burst, so the stream keeps flowing for as long as the test needs it mid-stream.
            var due = ContinuousClock.now
            for (index, (line, key)) in zip(lines, keys).enumerated() {
                if index % 100 == 0 {
                    let wait = due - .now
                    if wait > .zero {
                        Thread.sleep(
                            forTimeInterval: Double(wait.components.attoseconds) / 1e18
                                + Double(wait.components.seconds)
                        )
                    } else {
                        due = .now
                    }
                    due += .milliseconds(100 * 1000 / perSecond)
                }
                try producer.send(topic: topic, key: key, value: line)
            }
            try producer.flush(timeout: .seconds(60))
            guard producer.failedCount == 0 else { throw TestFailure("\(producer.failedCount) messages not delivered") }
        }
    }
}

/// Once the ingest group owns all `partitions`, starts producing the fixture into topic `clicks` at `perSecond`,
/// so the test can act while the stream is flowing; returns the producing task.
func streamOnceAssigned(
    _ fixture: ClickLogFixture,
    partitions: Int,
    url: String,
    brokers: String,
    perSecond: Int
) async throws -> Task<Void, any Error> {
    try await waitForAssignment(url, partitions: partitions)
    return producePaced(fixture.lines, keys: fixture.keys, topic: "clicks", brokers: brokers, perSecond: perSecond)
}

/// Produces the fixture's lines in `range` (with their keys) into `clicks`, paced: a test that must stop or kill
/// ingest mid-stream produces the first part, stops it, and only then the rest.
func produceLines(
    _ fixture: ClickLogFixture,
    _ range: Range<Int>,
    brokers: String,
    perSecond: Int
) -> Task<Void, any Error> {
    producePaced(
        Array(fixture.lines[range]),
        keys: Array(fixture.keys[range]),
        topic: "clicks",
        brokers: brokers,
        perSecond: perSecond
    )
}

/// Produces the fixture's first half, runs `midStream` while it streams, and produces the second half only after
/// both: whatever `midStream` does to ingest (a stop, a kill, injected broker errors) lands mid-stream by
/// construction, however slowly a loaded machine runs the test's own polling.
func produceInTwoHalves(
    _ fixture: ClickLogFixture,
    brokers: String,
    perSecond: Int,
    midStream: () async throws -> Void
) async throws {
    let half = fixture.lines.count / 2
    let firstHalf = produceLines(fixture, 0..<half, brokers: brokers, perSecond: perSecond)
    try await midStream()
    try await firstHalf.value
    try await produceLines(fixture, half..<fixture.lines.count, brokers: brokers, perSecond: perSecond).value
}

/// Waits until the ingest group has been assigned `partitions` partitions (it stores their offsets on assignment).
func waitForAssignment(_ url: String, partitions: Int) async throws {
    let assigned = try await blocking {
        try eventually {
            let connection = try PostgresConnection.connect(url, logger: testLogger)
            defer { connection.close() }
            return try connection.query("SELECT count(*) FROM ingest_offsets")[0].decode(Int.self, column: 0)
                >= partitions
        }
    }
    try #require(assigned, "the ingest joined the group")
}

/// Starts an `IngestService` on topic `clicks` of `broker`, with the consumer properties that broker needs.
func startIngest(
    url: String,
    broker: TestBroker,
    untilIdle: Duration? = nil,
    batch: Int = 500,
    instanceID: String? = nil
) -> (Task<Void, any Error>, ProgressBox) {
    startIngest(
        url: url,
        brokers: broker.bootstrapServers,
        topic: "clicks",
        untilIdle: untilIdle,
        batch: batch,
        instanceID: instanceID,
        properties: broker.consumerProperties
    )
}
