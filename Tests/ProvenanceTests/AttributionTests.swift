import ClickLog
import Foundation
import Hummingbird
import HummingbirdTesting
import Ingest
import Kafka
import Learning
import LearningTestSupport
import Postgres
import Registry
import Serving
import Simulation
import TestSupport
import Testing

@testable import Provenance

/// Attribution through the real pieces (`Docs/online.md`): a scoring worker answers and records its rankings, JSON
/// click events naming those rankings go through librdkafka's mock cluster and `amc ingest`'s service into
/// PostgreSQL, and every click resolves to the version and the position that served it — across a hot swap. Ids that
/// match no recorded ranking are ingested as ordinary clicks and shown as unattributed; a ranking that is not a string
/// is dead-lettered.
@Suite(.timeLimit(.minutes(8)))
struct AttributionTests {
    /// One ranking a worker returned.
    struct Served {
        var id: String
        var version: Int64
        var query: String
        var images: [String]
    }

    @Test func eachClickResolvesToTheVersionAndPositionThatServedItAcrossAHotSwap() async throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let first = try publish(fixture, seed: 1, activate: true)
        let second = try publish(fixture, seed: 2, activate: false)
        let queries = Array(fixture.world.trainingQueries.prefix(2).map(\.text))
        let keys = Array(fixture.world.images.prefix(8).map(\.key))

        let holder = ModelHolder()
        var configuration = ServingConfiguration()
        configuration.port = 0
        configuration.recheckInterval = .milliseconds(500)
        let app = ScoringAPI.buildApplication(
            configuration: configuration,
            databaseURL: fixture.url,
            holder: holder,
            logger: testLogger
        )
        let served = try await app.test(.router) { client in
            var served: [Served] = []
            func score(_ query: String) async throws {
                let body = try JSONSerialization.data(withJSONObject: ["query": query, "images": keys, "top": 5])
                let answer = try await client.execute(uri: "/v1/score", method: .post, body: ByteBuffer(bytes: body)) {
                    response in
                    #expect(response.status == .ok)
                    let object = try #require(
                        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                    )
                    let results = try #require(object["results"] as? [[String: Any]])
                    return Served(
                        id: try #require(object["ranking_id"] as? String),
                        version: Int64(try #require(object["model_version"] as? Int)),
                        query: query,
                        images: results.compactMap { $0["image"] as? String }
                    )
                }
                served.append(answer)
            }
            #expect(try await eventually { holder.current()?.version == first })
            for query in queries { try await score(query) }
            // Hot swap: the same queries, now ranked by the second version.
            try activate(fixture, second)
            #expect(try await eventually { holder.current()?.version == second })
            for query in queries { try await score(query) }
            // The recorder writes them a moment later.
            let connection = try fixture.connect()
            defer { connection.close() }
            #expect(
                try await eventually {
                    try connection.query("SELECT count(*) FROM rankings")[0].decode(Int.self, column: 0)
                        == served.count
                }
            )
            return served
        }
        #expect(served.map(\.version) == [first, first, second, second])
        #expect(served.allSatisfy { $0.images.count == 5 })

        // Users click: on every ranking, the images at positions 1 and 3 (the event says where it saw them).
        struct Click {
            var served: Served
            var position: Int
            var image: String { served.images[position] }
        }
        let clicks = served.flatMap { ranking in [1, 3].map { Click(served: ranking, position: $0) } }
        var lines = clicks.map { click in
            event(
                query: click.served.query,
                image: click.image,
                extra: [
                    "position": click.position, "impressions": click.served.images, "ranking": click.served.id,
                ]
            )
        }
        // Ids that match no recorded ranking: a well-formed one nobody recorded, and another system's.
        let strangerImage = served[0].images[0]
        let unknownID = RankingID.make()
        lines.append(event(query: queries[0], image: strangerImage, extra: ["ranking": unknownID]))
        lines.append(event(query: queries[0], image: strangerImage, extra: ["ranking": "other-system:42"]))
        // A ranking that is not a string is bad input like any other wrong-typed field: a dead letter, with its reason.
        let wrongType = event(query: queries[0], image: strangerImage, extra: ["ranking": 42])

        try await ingest(
            (lines + [wrongType]).map { line in
                let query = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])["query"]
                return (key: Array(((query as? String) ?? "").utf8), value: line)
            },
            into: fixture,
            group: "attribution"
        )

        let connection = try fixture.connect()
        defer { connection.close() }
        // Only the wrong-typed ranking was dead-lettered: an unknown ranking id is not bad input.
        let letters = try connection.query("SELECT raw, reason_code, reason FROM dead_letters")
        #expect(letters.count == 1)
        #expect(try letters.first?.decode([UInt8].self, column: 0) == wrongType)
        #expect(try letters.first?.decode(String.self, column: 1) == "invalid_field")
        let reason = try letters.first?.decode(String.self, column: 2) ?? ""
        #expect(reason.contains(#"field 'ranking' must be a string, got "42""#), "\(reason)")
        #expect(
            try connection.query("SELECT count(*) FROM click_events WHERE ranking IS NOT NULL")[0]
                .decode(Int.self, column: 0) == lines.count
        )
        for click in clicks {
            let row = try #require(
                try connection.query(
                    """
                    SELECT attributed, model_version, ranked_position, team
                    FROM click_attributions WHERE ranking = \(click.served.id) AND image = \(click.image)
                    """
                ).first
            )
            #expect(try row.decode(Bool.self, column: 0))
            #expect(try row.decode(Int64.self, column: 1) == click.served.version)
            #expect(try row.decode(Int.self, column: 2) == click.position)
            #expect(try row.decode(String?.self, column: 3) == nil)
        }
        for id in [unknownID, "other-system:42"] {
            let row = try #require(
                try connection.query(
                    "SELECT attributed, model_version FROM click_attributions WHERE ranking = \(id)"
                ).first
            )
            #expect(try !row.decode(Bool.self, column: 0))
            #expect(try row.decode(Int64?.self, column: 1) == nil)
        }

        // `amc audit pair` shows, for a pair, the rankings its clicks came from.
        let store = ProvenanceStore(connection: connection)
        for click in clicks {
            let pair = try store.pair(query: click.served.query, image: click.image)
            let ranking = try #require(pair.rankings.first { $0.ranking == click.served.id })
            #expect(ranking.attributed)
            #expect(ranking.version == click.served.version)
            #expect(ranking.position == click.position)
            #expect(ranking.servedAt != nil && ranking.events == 1 && ranking.clicks == 1)
            #expect(pair.events.contains { $0.ranking == click.served.id })
        }
        let stranger = try store.pair(query: queries[0], image: strangerImage)
        #expect(stranger.unattributedEvents == 2)
        #expect(
            Set(stranger.rankings.filter { !$0.attributed }.map(\.ranking)) == [unknownID, "other-system:42"]
        )
        #expect(stranger.rankings.filter { !$0.attributed }.allSatisfy { $0.version == nil && $0.position == nil })
    }

    // MARK: - Helpers

    /// A JSON click event (its time is the Kafka message's).
    func event(query: String, image: String, extra: [String: Any]) -> [UInt8] {
        var object: [String: Any] = ["query": query, "image": image]
        object.merge(extra) { $1 }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    /// Produces `messages` to topic `clicks` of a fresh mock cluster (two partitions) and runs the ingest service on
    /// it until idle, into `fixture`'s database.
    func ingest(
        _ messages: [(key: [UInt8], value: [UInt8])],
        into fixture: LearningFixture,
        group: String
    )
        async throws
    {
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 2)
        let producer = try KafkaProducer(
            config: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
            logger: testLogger
        )
        for message in messages {
            try producer.send(topic: "clicks", key: message.key, value: message.value)
        }
        try producer.flush(timeout: .seconds(60))
        #expect(producer.failedCount == 0)
        var ingest = IngestConfiguration()
        ingest.topics = ["clicks"]
        ingest.groupID = group
        ingest.batchMaxLatency = .milliseconds(50)
        ingest.untilIdle = .seconds(2)
        try await IngestService(
            configuration: ingest,
            kafka: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
            databaseURL: fixture.url,
            logger: testLogger
        ).run()
    }

    func publish(_ fixture: LearningFixture, seed: UInt64, activate: Bool) throws -> Int64 {
        var configuration = quickConfiguration()
        configuration.gateTolerance = 10
        configuration.seed = seed
        configuration.activate = activate
        let connection = try fixture.connect()
        defer { connection.close() }
        let leadership = LearnerLeadership(connection: connection)
        #expect(try leadership.tryAcquire())
        // Released before returning: closing the connection frees the lock only when its backend exits, later.
        defer { _ = try? leadership.release() }
        let learner = Learner(configuration: configuration, connection: connection, worker: "test", logger: testLogger)
        guard case .published(let version, _, _) = try learner.bootstrap() else {
            throw TestFailure("the bootstrap was not published")
        }
        return version
    }

    func activate(_ fixture: LearningFixture, _ version: Int64) throws {
        let connection = try fixture.connect()
        defer { connection.close() }
        _ = try connection.transaction { connection in
            try ModelRegistry(connection: connection).activate(version, actor: "test", reason: "attribution test")
        }
    }

    /// Polls (without blocking the cooperative pool) until `condition` holds, for up to 30 seconds.
    func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }
}
