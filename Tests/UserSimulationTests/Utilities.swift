import Foundation
import Hummingbird
import Kafka
import Learning
import LearningTestSupport
import Logging
import Postgres
import ServiceLifecycle
import Serving
import Simulation
import TestSupport
import Testing

extension LearningFixture {
    /// Trains, publishes and activates a small bootstrap version on the fixture's clicks (the gate accepts anything
    /// finite). - Returns: The version number.
    func publishActiveVersion() throws -> Int64 {
        var configuration = quickConfiguration()
        configuration.gateTolerance = 10
        configuration.seed = 1
        configuration.activate = true
        let (learner, connection) = try leadingLearner(self, configuration)
        defer { connection.close() }
        guard case .published(let version, _, _) = try learner.bootstrap() else {
            throw TestFailure("the bootstrap was not published")
        }
        return version
    }

    /// Writes the fixture's world into a fresh folder as `amc simulate --out` does (the files the users read).
    func writeWorldFolder() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-users-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try JSONEncoder().encode(world.configuration).write(
            to: folder.appendingPathComponent(WorldConfiguration.fileName)
        )
        try Data(world.catalogJSONL().utf8).write(to: folder.appendingPathComponent("catalog.jsonl"))
        return folder.path
    }
}

/// Runs a scoring worker on an ephemeral loopback port for the duration of `body`, once it has a model loaded.
func withScoringWorker<T: Sendable>(
    _ fixture: LearningFixture,
    _ body: @Sendable (URL) async throws -> T
) async throws -> T {
    var configuration = ServingConfiguration()
    configuration.port = 0
    configuration.recheckInterval = .milliseconds(500)
    let holder = ModelHolder()
    let (ports, portContinuation) = AsyncStream<Int>.makeStream()
    let app = ScoringAPI.buildApplication(
        configuration: configuration,
        databaseURL: fixture.url,
        holder: holder,
        logger: testLogger,
        onServerRunning: { portContinuation.yield($0) }
    )
    let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: testLogger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw TestFailure("the scoring worker did not start") }
            let deadline = ContinuousClock.now + .seconds(60)
            while holder.current() == nil {
                guard ContinuousClock.now < deadline else { throw TestFailure("the scoring worker loaded no model") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let result = try await body(URL(string: "http://127.0.0.1:\(port)")!)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            tasks.cancelAll()
            throw error
        }
    }
}

/// Every message of `topic` from the beginning, read by a consumer group of its own, until `count` are read.
func readTopic(_ topic: String, brokers: String, count: Int) throws -> [ConsumerRecord] {
    let consumer = try KafkaConsumer(
        config: KafkaConfig(bootstrapServers: brokers),
        groupID: "read-back-\(UUID().uuidString)",
        topics: [topic],
        logger: testLogger,
        onAssign: { partitions in Dictionary(uniqueKeysWithValues: partitions.map { ($0, KafkaOffset.beginning) }) },
        onRevoke: { _ in }
    )
    defer { consumer.close() }
    var records: [ConsumerRecord] = []
    let deadline = ContinuousClock.now + .seconds(120)
    while records.count < count && ContinuousClock.now < deadline {
        records += try consumer.pollBatch(maxRecords: 1000, timeout: .milliseconds(200)).records
    }
    // Anything beyond `count` would be a duplicate: read a little longer to see it.
    records += try consumer.pollBatch(maxRecords: 1000, timeout: .milliseconds(500)).records
    return records
}
