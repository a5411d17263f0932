import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

@testable import Ingest

/// Exactly-once across stops, crashes, rebalances and faults: nothing lost, nothing doubled — on librdkafka's mock
/// cluster and on noida-db, an independent broker (``BrokerKind``), except where a test injects the mock's faults.
@Suite(.timeLimit(.minutes(10)))
struct IngestRecoveryTests {
    @Test(arguments: BrokerKind.available)
    func gracefulStopMidStreamThenRestartLosesAndDoublesNothing(kind: BrokerKind) async throws {
        let url = try TestPostgres.freshDatabase()
        let broker = try TestBroker(kind)
        try broker.createTopic("clicks", partitions: 3)
        let fixture = ClickLogFixture(count: 20_000, badEvery: 97)

        let (first, progress) = startIngest(url: url, broker: broker, batch: 200)
        // The second half is produced only after the stop, so the stop always lands mid-stream.
        try await waitForAssignment(url, partitions: 3)
        try await produceInTwoHalves(fixture, brokers: broker.bootstrapServers, perSecond: 5000) {
            #expect(try await blocking { try eventually { progress.current.events >= 2000 } })
            first.cancel()
            try await first.value
            let partial = try totals(url)
            #expect(partial.events + partial.deadLetters < fixture.lines.count, "stopped mid-stream")
        }

        let (second, _) = startIngest(url: url, broker: broker, untilIdle: .seconds(2))
        try await second.value
        try expectExactlyOnce(fixture, in: url)
    }

    /// On noida-db the killed process and its restart share a static membership (`ingest.instance-id`): its group
    /// coordinator never expires a dynamic member whose session lapsed, so with dynamic membership the restart
    /// could not join (`AssignmentWatchdogTests` shows the watchdog reporting that).
    @Test(arguments: BrokerKind.available)
    func killedProcessMidStreamThenRestartLosesAndDoublesNothing(kind: BrokerKind) async throws {
        let executable = repositoryRoot.appendingPathComponent(".build/debug/amc")
        try #require(
            FileManager.default.isExecutableFile(atPath: executable.path),
            "build the amc executable first (swift build --build-tests)"
        )
        let url = try TestPostgres.freshDatabase()
        let broker = try TestBroker(kind)
        try broker.createTopic("clicks", partitions: 2)
        let fixture = ClickLogFixture(count: 30_000, badEvery: 101)
        let instanceID = kind == .noida ? "ingest-0" : nil

        let child = Process()
        child.executableURL = executable
        child.arguments =
            [
                "ingest", "--database-url", url, "--brokers", broker.bootstrapServers, "--group", "test",
                "--batch-size", "300", "--batch-latency-ms", "20", "--log-level", "error",
            ] + (instanceID.map { ["--instance-id", $0] } ?? [])
        child.environment = ProcessInfo.processInfo.environment.merging(
            broker.consumerProperties.map { key, value in
                ("AMC_KAFKA_PROPERTY_" + key.uppercased().replacingOccurrences(of: ".", with: "_"), value)
            }
        ) { _, new in new }
        try child.run()
        // The first half streams while the child ingests; the second only after the kill, so the kill always
        // lands mid-stream however slowly this test's own polling runs on a loaded machine.
        try await waitForAssignment(url, partitions: 2)
        try await produceInTwoHalves(fixture, brokers: broker.bootstrapServers, perSecond: 6000) {
            let sawProgress = try await blocking { try eventually { try totals(url).events >= 3000 } }
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            #expect(sawProgress)
            #expect(child.terminationReason == .uncaughtSignal)
            let partial = try totals(url)
            #expect(partial.events + partial.deadLetters < fixture.lines.count, "killed mid-stream")
        }

        let (restart, _) = startIngest(url: url, broker: broker, untilIdle: .seconds(2), instanceID: instanceID)
        try await restart.value
        try expectExactlyOnce(fixture, in: url)
    }

    @Test(arguments: BrokerKind.available)
    func twoConsumersShareTheGroupAndOneLeavingMidStreamChangesNoTotals(kind: BrokerKind) async throws {
        let url = try TestPostgres.freshDatabase()
        let broker = try TestBroker(kind)
        try broker.createTopic("clicks", partitions: 4)
        let fixture = ClickLogFixture(count: 24_000, badEvery: 89)

        let (stayer, stayerProgress) = startIngest(url: url, broker: broker, batch: 200)
        let (leaver, leaverProgress) = startIngest(url: url, broker: broker, batch: 200)
        let producer = try await streamOnceAssigned(
            fixture,
            partitions: 4,
            url: url,
            brokers: broker.bootstrapServers,
            perSecond: 6000
        )
        #expect(try await blocking { try eventually { leaverProgress.current.events >= 1000 } })
        leaver.cancel()
        try await leaver.value
        #expect(try totals(url).events < fixture.validCount, "left mid-stream")
        try await producer.value
        try await stopOnceAccountedFor(stayer, fixture, in: url)

        #expect(stayerProgress.current.events > 0, "both consumers took part")
        try expectExactlyOnce(fixture, in: url)
    }

    /// The mock cluster's broker refuses connections for a while; the noida-db process is stopped (SIGTERM) and
    /// started again on the same port and data directory. On the mock the producer streams across the outage; an
    /// idempotent producer does not survive noida-db's restart (its next sequence numbers are refused as out of
    /// order, a fatal producer error), so there the first half is produced before the outage and the rest after.
    @Test(arguments: BrokerKind.available)
    func brokerDownThenUpMidStreamResumesWithExactTotals(kind: BrokerKind) async throws {
        let url = try TestPostgres.freshDatabase()
        let broker = try TestBroker(kind)
        try broker.createTopic("clicks", partitions: 2)
        let fixture = ClickLogFixture(count: 20_000, badEvery: 113)
        let acrossOutage = kind == .mock

        let (task, progress) = startIngest(url: url, broker: broker, batch: 200)
        try await waitForAssignment(url, partitions: 2)
        let half = fixture.lines.count / 2
        let firstPart = produceLines(
            fixture,
            0..<(acrossOutage ? fixture.lines.count : half),
            brokers: broker.bootstrapServers,
            perSecond: 5000
        )
        #expect(try await blocking { try eventually { progress.current.events >= 1000 } })
        if !acrossOutage { try await firstPart.value }
        try await blocking { try broker.stop() }
        try await Task.sleep(for: .seconds(3))
        let duringOutage = try totals(url)
        try await blocking { try broker.start() }
        if acrossOutage {
            try await firstPart.value
        } else {
            try await produceLines(
                fixture,
                half..<fixture.lines.count,
                brokers: broker.bootstrapServers,
                perSecond: 5000
            ).value
        }
        try await stopOnceAccountedFor(task, fixture, in: url)

        #expect(duringOutage.events < fixture.validCount, "the outage hit mid-stream")
        try expectExactlyOnce(fixture, in: url)
    }

    @Test(arguments: BrokerKind.available)
    func postgresRestartMidStreamIsRetriedWithExactTotals(kind: BrokerKind) async throws {
        let directory = URL(fileURLWithPath: "/tmp/amc-pgrestart-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let server = LocalPostgresServer(directory: directory, fastUnsafe: true, logger: testLogger)
        try await blocking { try server.start() }
        defer {
            try? server.stop(mode: .immediate)
            try? FileManager.default.removeItem(at: directory)
        }
        try server.createDatabase("restart")
        let url = server.url(database: "restart")
        let setup = try PostgresConnection.connect(url, logger: testLogger)
        try Migrator(directory: repositoryRoot.appendingPathComponent("Migrations")).migrate(setup)
        setup.close()

        let broker = try TestBroker(kind)
        try broker.createTopic("clicks", partitions: 2)
        let fixture = ClickLogFixture(count: 20_000, badEvery: 107)

        let (task, progress) = startIngest(url: url, broker: broker, batch: 200)
        let producer = try await streamOnceAssigned(
            fixture,
            partitions: 2,
            url: url,
            brokers: broker.bootstrapServers,
            perSecond: 5000
        )
        #expect(try await blocking { try eventually { progress.current.events >= 1000 } })
        try await blocking { try server.restart() }
        #expect(try totals(url).events < fixture.validCount, "restarted mid-stream")
        try await producer.value
        try await stopOnceAccountedFor(task, fixture, in: url)

        #expect(progress.current.retries > 0, "the restart was noticed and retried")
        try expectExactlyOnce(fixture, in: url)
    }

    @Test func injectedFetchAndCommitErrorsMidStreamChangeNoTotals() async throws {
        let url = try TestPostgres.freshDatabase()
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 2)
        let fixture = ClickLogFixture(count: 12_000, badEvery: 131)

        let (task, progress) = startIngest(
            url: url,
            brokers: cluster.bootstrapServers,
            topic: "clicks",
            batch: 200
        )
        // The second half is produced only after the errors are injected, so they always hit mid-stream.
        try await waitForAssignment(url, partitions: 2)
        try await produceInTwoHalves(fixture, brokers: cluster.bootstrapServers, perSecond: 4000) { () async throws in
            #expect(try await blocking { try eventually { progress.current.events >= 1000 } })
            // Retriable broker errors on the next fetches and on Kafka's (advisory) offset commits.
            cluster.pushRequestErrors(
                apiKey: KafkaAPIKey.fetch,
                errors: [.notLeaderForPartition, .leaderNotAvailable, .requestTimedOut, .notLeaderForPartition]
            )
            cluster.pushRequestErrors(
                apiKey: KafkaAPIKey.offsetCommit,
                errors: [.coordinatorNotAvailable, .notCoordinator, .requestTimedOut]
            )
            #expect(try totals(url).events < fixture.validCount, "the errors hit mid-stream")
        }
        try await stopOnceAccountedFor(task, fixture, in: url)

        try expectExactlyOnce(fixture, in: url)
    }

    /// A replay from an offset: an operator moves the stored offset back over messages already stored (events and
    /// dead letters) while ingest runs; the re-read skips what is stored and lands only what is new.
    @Test func anOffsetMovedBackIsReReadWithoutStoringAnythingTwice() async throws {
        let url = try TestPostgres.freshDatabase()
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 1)
        let fixture = ClickLogFixture(count: 400, badEvery: 20)
        let (task, progress) = startIngest(url: url, brokers: cluster.bootstrapServers, topic: "clicks", batch: 100)
        try await waitForAssignment(url, partitions: 1)
        try produce(
            Array(fixture.lines[..<300]),
            keys: Array(fixture.keys[..<300]),
            topic: "clicks",
            brokers: cluster.bootstrapServers
        )
        #expect(
            try await blocking { try eventually { progress.current.events + progress.current.deadLetters == 300 } }
        )

        // An operator moves the stored offset back while ingest runs; the next batch notices and rejoins.
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        try connection.execute("UPDATE ingest_offsets SET next_offset = 250")
        try produce(
            Array(fixture.lines[300...]),
            keys: Array(fixture.keys[300...]),
            topic: "clicks",
            brokers: cluster.bootstrapServers
        )
        let settled = try await blocking {
            try eventually(timeout: .seconds(90)) {
                try connection.query("SELECT next_offset FROM ingest_offsets")[0].decode(Int.self, column: 0) == 400
            }
        }
        #expect(settled)
        task.cancel()
        try await task.value

        // Every message is stored once: the 50 re-read ones were skipped, not dead-lettered as collisions.
        try expectExactlyOnce(fixture, in: url)
        #expect(progress.current.alreadyStored == 50)
        let reasons = try connection.query(
            "SELECT count(*) FROM dead_letters WHERE reason_code = 'rejected_by_database'"
        )
        #expect(try reasons[0].decode(Int.self, column: 0) == 0)
    }
}
