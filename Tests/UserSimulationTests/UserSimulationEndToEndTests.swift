import ClickLog
import Foundation
import Ingest
import Kafka
import LearningTestSupport
import Logging
import Postgres
import Simulation
import TestSupport
import Testing
import UserSimulation

/// Simulated users against a real `amc serve` (a loaded model), the mock Kafka cluster and a real ingest.
@Suite(.timeLimit(.minutes(10)))
struct UserSimulationEndToEndTests {
    @Test func usersClickOnTheServedRankingsAndIngestLandsEveryClickExactlyOnceWithItsPage() async throws {
        let fixture = try LearningFixture(world: tinyWorld())
        _ = try fixture.publishActiveVersion()
        let folder = try fixture.writeWorldFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let world = try WorldFolder.load(folder)
        let users = SimulatedUsers(world: world, model: UserModel(), seed: 4)

        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        defer { cluster.shutdown() }
        try cluster.createTopic("live-clicks", partitions: 2)
        var ingestConfiguration = IngestConfiguration()
        ingestConfiguration.topics = ["live-clicks"]
        ingestConfiguration.groupID = "ingest"
        ingestConfiguration.batchMaxLatency = .milliseconds(50)
        let ingest = IngestService(
            configuration: ingestConfiguration,
            kafka: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
            databaseURL: fixture.url,
            logger: testLogger
        )
        let ingesting = Task { try await ingest.run() }

        let report = try await withScoringWorker(fixture) { url in
            var configuration = UserSimulationConfiguration()
            configuration.serveURL = url
            configuration.topic = "live-clicks"
            // Bounded by the number of visits, not by time: paced at 20 a second they take at least 4 s, so the
            // shift at 2 s falls inside the run however slowly a loaded machine answers (the duration is a backstop).
            configuration.rate = 20
            configuration.duration = .seconds(300)
            configuration.maxVisits = 80
            configuration.shiftAt = .seconds(2)
            let driver = UserSimulationDriver(
                users: users,
                configuration: configuration,
                kafka: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
                logger: testLogger
            )
            try await driver.run()
            return driver.report
        }
        #expect(report.failedRequests == 0)
        #expect(report.visitsBeforeShift != nil)
        #expect(report.visits == 80 && report.tally.pages > 20)
        #expect(report.tally.clicks > 0 && report.produced == report.tally.clicks && report.notDelivered == 0)

        // What went to Kafka: every message a JSON click event of a page the users were shown.
        let records = try await blocking {
            try readTopic("live-clicks", brokers: cluster.bootstrapServers, count: report.produced)
        }
        #expect(records.count == report.produced)
        let parser = ClickLogParser()
        var produced: [String: ClickEvent] = [:]
        for record in records {
            let event = try parser.parse(record.value).get()
            #expect(record.key == Array(event.query.utf8))
            let impressions = try #require(event.impressions)
            let position = Int(try #require(event.position))
            #expect(impressions[position] == event.image)
            let session = try #require(event.session)
            let number = try #require(Int(session.split(separator: "-").last ?? ""))
            let visit = users.visit(number)
            #expect(event.query == visit.text)
            #expect(Set(impressions) == Set(visit.candidates))
            #expect(event.timestampMicros != nil)
            produced["\(record.partition)/\(record.offset)"] = event
        }

        // What ingest landed: exactly those events, once each, with their impressions and positions.
        let landed = try await blocking {
            try eventually(timeout: .seconds(120)) {
                try eventCount(fixture.url, topic: "live-clicks") >= records.count
            }
        }
        #expect(landed)
        ingesting.cancel()
        try await ingesting.value
        let connection = try fixture.connect()
        defer { connection.close() }
        var stored: [String: ClickEvent] = [:]
        for row in try connection.query(
            """
            SELECT partition, "offset", query, image, clicks, position, session, impressions, ranking
            FROM click_events WHERE topic = 'live-clicks'
            """
        ) {
            let key = "\(try row.decode(Int.self, column: 0))/\(try row.decode(Int.self, column: 1))"
            #expect(stored[key] == nil)
            stored[key] = ClickEvent(
                query: try row.decode(String.self, column: 2),
                image: try row.decode(String.self, column: 3),
                clicks: Int32(try row.decode(Int.self, column: 4)),
                position: try row.decode(Int?.self, column: 5).map(Int32.init),
                impressions: try row.decode([String]?.self, column: 7),
                session: try row.decode(String?.self, column: 6),
                ranking: try row.decode(String?.self, column: 8),
                form: .json
            )
        }
        #expect(stored.count == produced.count)
        // Every click names the ranking its page came from, and resolves to the position it had there (the worker
        // records its rankings off the request path: wait for them).
        #expect(produced.values.allSatisfy { $0.ranking != nil })
        let attributed = try eventually(timeout: .seconds(60)) {
            try connection.query(
                """
                SELECT count(*) FROM click_attributions
                WHERE topic = 'live-clicks' AND attributed AND ranked_position = position
                """
            )[0].decode(Int.self, column: 0) == produced.count
        }
        #expect(attributed)
        for (key, event) in produced {
            var expected = event
            expected.timestampMicros = nil
            #expect(stored[key] == expected, "\(key)")
        }
        let deadLetters = try connection.query("SELECT count(*) FROM dead_letters")[0].decode(Int.self, column: 0)
        #expect(deadLetters == 0)
    }
}

/// Click events of `topic` in the database.
func eventCount(_ url: String, topic: String) throws -> Int {
    let connection = try PostgresConnection.connect(url, logger: testLogger)
    defer { connection.close() }
    return try connection.query("SELECT count(*) FROM click_events WHERE topic = \(topic)")[0].decode(
        Int.self,
        column: 0
    )
}
