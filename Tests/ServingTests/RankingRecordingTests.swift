import Foundation
import Hummingbird
import HummingbirdTesting
import Learning
import LearningTestSupport
import Postgres
import ServiceLifecycle
import Serving
import Simulation
import TestSupport
import Testing

@testable import Serving

/// Every `POST /v1/score` response carries a `ranking_id`, and the ranking it names is recorded in `rankings` off
/// the request path (`Docs/online.md`): a full queue drops and counts records instead of blocking a request.
@Suite struct RankingRecordingTests {
    @Test func everyScoreResponseHasARankingIDAndItsRankingIsRecorded() async throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: true)
        let (holder, metrics, app) = scoringWorker(fixture, testConfiguration())
        let keys = Array(fixture.world.images.prefix(6).map(\.key))
        try await app.test(.router) { client in
            var answered: [(id: String, images: [String])] = []
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            let requests: [[String: Any]] = [
                ["query": "  Kitten  FOOD ", "images": keys],
                ["query": "kitten food", "images": keys, "top": 2],
                ["query": "red car", "images": ["missing"]],
                ["query": "red car", "images": keys, "explain": true],
            ]
            for request in requests {
                let answer = try await client.execute(uri: "/v1/score", method: .post, body: try jsonBody(request)) {
                    response in
                    #expect(response.status == .ok)
                    let body = try jsonObject(response.body)
                    let id = try #require(body["ranking_id"] as? String)
                    let results = try #require(body["results"] as? [[String: Any]])
                    return (id: id, images: results.compactMap { $0["image"] as? String })
                }
                answered.append(answer)
            }
            #expect(Set(answered.map(\.id)).count == requests.count)
            #expect(answered.allSatisfy { Self.isVersion7UUID($0.id) })

            // Written a moment later, by the recorder: poll with a generous deadline.
            let connection = try fixture.connect()
            defer { connection.close() }
            #expect(
                try await eventually(within: .seconds(30)) {
                    try connection.query("SELECT count(*) FROM rankings")[0].decode(Int.self, column: 0)
                        == requests.count
                }
            )
            for (index, answer) in answered.enumerated() {
                let row = try #require(
                    try connection.query(
                        """
                        SELECT model_version, query, images, teams IS NULL, experiment IS NULL,
                               served_at BETWEEN now() - interval '5 minutes' AND now()
                        FROM rankings WHERE id = \(answer.id)::uuid
                        """
                    ).first
                )
                #expect(try row.decode(Int64.self, column: 0) == version)
                #expect(try row.decode(String.self, column: 1) == (index < 2 ? "kitten food" : "red car"))
                #expect(try row.decode([String].self, column: 2) == answer.images)
                #expect(try row.decode(Bool.self, column: 3) && row.decode(Bool.self, column: 4))
                #expect(try row.decode(Bool.self, column: 5))
            }
            #expect(answered[1].images.count == 2 && answered[2].images.isEmpty)
            #expect(metrics.render().contains("amc_serve_rankings_recorded_total \(requests.count)"))
        }
    }

    @Test func aFullQueueDropsAndCountsRecordsWhileRequestsStillSucceed() async throws {
        let fixture = try LearningFixture.serving()
        _ = try fixture.publish(seed: 1, activate: true)
        var configuration = testConfiguration()
        configuration.rankingQueueCapacity = 2
        configuration.rankingBatchSize = 1
        let (holder, metrics, app) = scoringWorker(fixture, configuration)
        let keys = Array(fixture.world.images.prefix(3).map(\.key))
        // An exclusive lock on `rankings` holds the recorder's first write: the queue fills behind it.
        let locker = try fixture.connect()
        defer { locker.close() }
        try locker.execute(script: "BEGIN; LOCK TABLE rankings IN ACCESS EXCLUSIVE MODE")
        let requests = 12
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            for _ in 0..<requests {
                let body = try jsonBody(["query": "kitten", "images": keys])
                try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    #expect(response.status == .ok)
                    let object = try jsonObject(response.body)
                    #expect(object["ranking_id"] is String)
                }
            }
            // At most one record in the blocked write and two queued; the rest were dropped, each counted.
            let dropped = Self.counter("amc_serve_rankings_dropped_total", in: metrics.render())
            #expect(dropped >= requests - 3)
            try locker.execute(script: "COMMIT")
            let connection = try fixture.connect()
            defer { connection.close() }
            #expect(
                try await eventually(within: .seconds(30)) {
                    try connection.query("SELECT count(*) FROM rankings")[0].decode(Int.self, column: 0)
                        == requests - dropped
                }
            )
            #expect(Self.counter("amc_serve_rankings_recorded_total", in: metrics.render()) == requests - dropped)
        }
    }

    @Test func gracefulShutdownWritesWhatIsQueuedAndRefusesWhatComesAfter() async throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: false)
        let metrics = ServingMetrics()
        let recorder = RankingRecorder(
            databaseURL: fixture.url,
            configuration: ServingConfiguration(),
            metrics: metrics,
            logger: testLogger
        )
        func record() -> RankingRecord {
            RankingRecord(id: RankingID.make(), servedAt: Date(), modelVersion: version, query: "q", images: ["a"])
        }
        // Queued before the writer runs; the shutdown comes at once, so only the drain can write them.
        for _ in 0..<2500 { #expect(recorder.submit(record())) }
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: recorder)], gracefulShutdownSignals: [], logger: testLogger)
        )
        let running = Task { try await group.run() }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(!recorder.submit(record()))

        let connection = try fixture.connect()
        defer { connection.close() }
        #expect(try connection.query("SELECT count(*) FROM rankings")[0].decode(Int.self, column: 0) == 2500)
        #expect(Self.counter("amc_serve_rankings_recorded_total", in: metrics.render()) == 2500)
        #expect(Self.counter("amc_serve_rankings_dropped_total", in: metrics.render()) == 1)
        #expect(metrics.render().contains("amc_serve_ranking_queue_depth 0"))
    }

    @Test func submitNeverWaitsAndCountsWhatItDrops() {
        var configuration = ServingConfiguration()
        configuration.rankingQueueCapacity = 3
        let metrics = ServingMetrics()
        // Never run: nothing takes records off the queue.
        let recorder = RankingRecorder(
            databaseURL: "postgresql://nobody@127.0.0.1:1/none",
            configuration: configuration,
            metrics: metrics,
            logger: testLogger
        )
        let record = RankingRecord(
            id: RankingID.make(),
            servedAt: Date(),
            modelVersion: 1,
            query: "q",
            images: ["a", "b"]
        )
        let accepted = (0..<10).map { _ in recorder.submit(record) }
        #expect(accepted == Array(repeating: true, count: 3) + Array(repeating: false, count: 7))
        #expect(Self.counter("amc_serve_rankings_dropped_total", in: metrics.render()) == 7)
        #expect(metrics.render().contains("amc_serve_ranking_queue_depth 3"))
    }

    @Test func theQueueKeepsOrderAndItsBound() {
        var queue = RankingQueue(capacity: 3)
        func record(_ n: Int) -> RankingRecord {
            RankingRecord(id: "\(n)", servedAt: Date(), modelVersion: 1, query: "q", images: [])
        }
        #expect((0..<5).map { queue.push(record($0)) } == [true, true, true, false, false])
        #expect(queue.take(upTo: 2).map(\.id) == ["0", "1"])
        #expect(queue.push(record(5)) && queue.push(record(6)) && !queue.push(record(7)))
        #expect(queue.take(upTo: 10).map(\.id) == ["2", "5", "6"])
        #expect(queue.isEmpty && queue.take(upTo: 1).isEmpty)
    }

    @Test func rankingIDsAreVersion7UUIDsOrderedByTime() {
        var generator = SystemRandomNumberGenerator()
        let base = Date(timeIntervalSince1970: 1_780_000_000)
        let ids = (0..<1000).map { RankingID.make(at: base.addingTimeInterval(Double($0) / 100), using: &generator) }
        #expect(ids.allSatisfy(Self.isVersion7UUID))
        #expect(Set(ids).count == ids.count)
        // Ids of different milliseconds sort by time (as text and as PostgreSQL's uuid order, both byte order).
        let distinct = stride(from: 0, to: 1000, by: 10).map { ids[$0] }
        #expect(distinct == distinct.sorted())
        // The time prefix is the millisecond count, big-endian.
        let prefix = ids[0].replacingOccurrences(of: "-", with: "").prefix(12)
        #expect(UInt64(prefix, radix: 16) == 1_780_000_000_000)
    }

    static func isVersion7UUID(_ id: String) -> Bool {
        let pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
        return id.wholeMatch(of: pattern) != nil
    }

    /// A counter's value in the exposition text (0 when absent).
    static func counter(_ name: String, in text: String) -> Int {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Int(Double(line.split(separator: " ")[1]) ?? 0)
        }
        return 0
    }
}
