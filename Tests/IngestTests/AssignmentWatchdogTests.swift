import ClickLog
import CoreMetrics
import Foundation
import Kafka
import Logging
import MetricsTestKit
import Synchronization
import TestSupport
import Testing

@testable import Ingest

/// A consumer group that never forms: ingest says so (warning, then error, with the group and what the Kafka
/// client reported), counts it, and under `untilIdle` gives up instead of waiting forever.
@Suite(.timeLimit(.minutes(8)))
struct AssignmentWatchdogTests {
    func configuration(untilIdle: Duration?) -> IngestConfiguration {
        var configuration = IngestConfiguration()
        configuration.topics = ["clicks"]
        configuration.groupID = "never-forms"
        configuration.untilIdle = untilIdle
        configuration.assignmentWarning = .seconds(1)
        configuration.assignmentTimeout = .seconds(3)
        return configuration
    }

    @Test func underUntilIdleARefusedJoinFailsTheRunNamingTheGroupAndTheAnswer() async throws {
        let url = try TestPostgres.freshDatabase()
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 1)
        // The coordinator refuses every JoinGroup (far more refusals than the test can use up).
        cluster.pushRequestErrors(
            apiKey: KafkaAPIKey.joinGroup,
            errors: Array(repeating: KafkaErrorCode(rawValue: 30), count: 2000)  // GROUP_AUTHORIZATION_FAILED
        )
        let logs = RecordedLogs()
        let metrics = TestMetrics()
        let error = await withMetricsFactory(metrics) {
            await #expect(throws: IngestError.self) {
                try await IngestService(
                    configuration: configuration(untilIdle: .seconds(1)),
                    kafka: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
                    databaseURL: url,
                    logger: logs.logger
                ).run()
            }
        }
        let message = try #require(error).message
        #expect(message.hasPrefix("no partitions were assigned to consumer group never-forms (topics clicks) in 3 s"))
        #expect(message.contains("JoinGroup failed: Broker: Group authorization failed"), "\(message)")
        #expect(metrics.counterTotal(label: "ingest.assignment.warnings") == 1)
        #expect(metrics.counterTotal(label: "ingest.assignment.timeouts") == 1)
        #expect(try metrics.expectGauge("ingest.assigned_partitions").lastValue == 0)
        let warning = try #require(logs.entries.first { $0.level == .warning && $0.message.hasPrefix("no partitions") })
        #expect(warning.metadata["ingest.group"] == "never-forms")
        #expect(logs.entries.contains { $0.level == .error && $0.message.hasPrefix("no partitions assigned") })
    }

    @Test func aServiceKeepsWaitingAndReportsEveryTimeoutPeriod() async throws {
        let url = try TestPostgres.freshDatabase()
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 1)
        // The coordinator is never found: librdkafka retries silently.
        cluster.pushRequestErrors(
            apiKey: KafkaAPIKey.findCoordinator,
            errors: Array(repeating: .coordinatorNotAvailable, count: 2000)
        )
        let logs = RecordedLogs()
        let metrics = TestMetrics()
        let service = IngestService(
            configuration: configuration(untilIdle: nil),
            kafka: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
            databaseURL: url,
            logger: logs.logger
        )
        let task = Task { try await withMetricsFactory(metrics) { try await service.run() } }
        let reported = try await blocking {
            try eventually {
                logs.entries.filter { $0.level == .error && $0.message.hasPrefix("no partitions assigned") }.count >= 2
            }
        }
        #expect(reported, "an error at each timeout period")
        task.cancel()
        try await task.value
        #expect(metrics.counterTotal(label: "ingest.assignment.warnings") == 1)
        #expect(metrics.counterTotal(label: "ingest.assignment.timeouts") >= 2)
        let error = try #require(logs.entries.first { $0.level == .error })
        #expect(error.metadata["ingest.group"] == "never-forms")
        #expect(error.metadata["ingest.topics"] == "clicks")
    }

    /// noida-db's group coordinator never expires a dynamic member whose session lapsed: once such a member is
    /// SIGKILLed, the next member's JoinGroup waits for it (up to its rebalance timeout, then "rebalance in
    /// progress" over and over). Ingest does not hang silently there: the watchdog reports the group, and under
    /// `untilIdle` the run fails naming it. (Static membership, `ingest.instance-id`, avoids the stall:
    /// `IngestRecoveryTests`.)
    @Test(
        .enabled(
            if: BrokerKind.available.contains(.noida),
            "needs noida-db (AMC_TEST_NOIDA_DB, set by Deploy/local/test.sh)"
        )
    )
    func onNoidaDBAKilledDynamicMembersStalledGroupIsReportedByTheWatchdog() async throws {
        let executable = repositoryRoot.appendingPathComponent(".build/debug/amc")
        try #require(
            FileManager.default.isExecutableFile(atPath: executable.path),
            "build the amc executable first (swift build --build-tests)"
        )
        let url = try TestPostgres.freshDatabase()
        let broker = try TestBroker(.noida)
        try broker.createTopic("clicks", partitions: 1)
        let child = Process()
        child.executableURL = executable
        child.arguments = [
            "ingest", "--database-url", url, "--brokers", broker.bootstrapServers, "--group", "never-forms",
            "--log-level", "error",
        ]
        try child.run()
        try await waitForAssignment(url, partitions: 1)
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()

        let logs = RecordedLogs()
        let metrics = TestMetrics()
        let error = await withMetricsFactory(metrics) {
            await #expect(throws: IngestError.self) {
                try await IngestService(
                    configuration: configuration(untilIdle: .seconds(1)),
                    kafka: KafkaConfig(
                        bootstrapServers: broker.bootstrapServers,
                        properties: broker.consumerProperties
                    ),
                    databaseURL: url,
                    logger: logs.logger
                ).run()
            }
        }
        let message = try #require(error).message
        #expect(message.hasPrefix("no partitions were assigned to consumer group never-forms (topics clicks) in 3 s"))
        #expect(metrics.counterTotal(label: "ingest.assignment.warnings") == 1)
        #expect(metrics.counterTotal(label: "ingest.assignment.timeouts") == 1)
        #expect(logs.entries.contains { $0.level == .warning && $0.message.hasPrefix("no partitions assigned yet") })
    }
}

/// Log entries kept in memory.
final class RecordedLogs: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let stored = Mutex<[Entry]>([])

    var entries: [Entry] { stored.withLock { $0 } }

    var logger: Logger {
        var logger = Logger(label: "ingest-test") { _ in Handler(logs: self) }
        logger.logLevel = .info
        return logger
    }

    fileprivate func append(_ entry: Entry) {
        stored.withLock { $0.append(entry) }
    }

    private struct Handler: LogHandler {
        let logs: RecordedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            all.merge(event.metadata ?? [:]) { _, new in new }
            logs.append(Entry(level: event.level, message: "\(event.message)", metadata: all.mapValues { "\($0)" }))
        }
    }
}
