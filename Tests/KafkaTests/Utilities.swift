import Dispatch
import InMemoryLogging
import Kafka
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shared helpers for the Kafka tests (mock cluster, blocking-call offloading, bounded consume loops).
enum TestSupport {
    /// A logger that records everything (librdkafka included) in memory instead of printing it.
    static func makeLogger(_ handler: InMemoryLogHandler = InMemoryLogHandler()) -> Logger {
        var logger = Logger(label: "kafka-tests") { _ in handler }
        logger.logLevel = .debug
        return logger
    }

    /// Runs blocking librdkafka calls on a dedicated serial queue (its own thread), never on the cooperative pool.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue(label: "kafka-tests.blocking").async {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    /// Sleeps ~10 ms; only for code already running on a dedicated (non-cooperative) thread.
    static func sleepBriefly() {
        usleep(10_000)
    }

    /// A fresh single-purpose cluster with one topic.
    static func makeCluster(topic: String, partitions: Int32, brokers: Int = 1) throws -> MockKafkaCluster {
        let cluster = try MockKafkaCluster(brokers: brokers, logger: makeLogger())
        try cluster.createTopic(topic, partitions: partitions)
        return cluster
    }

    static func makeProducer(_ cluster: MockKafkaCluster, properties: [String: String] = [:]) throws -> KafkaProducer {
        try KafkaProducer(
            config: KafkaConfig(bootstrapServers: cluster.bootstrapServers, properties: properties),
            logger: makeLogger()
        )
    }

    /// Values are `"v-<i>"`, keys `"k-<i % keys>"`.
    static func value(_ index: Int) -> [UInt8] { Array("v-\(index)".utf8) }
    static func key(_ index: Int, keys: Int = 37) -> [UInt8] { Array("k-\(index % keys)".utf8) }

    /// Sends `range` keyed messages (or to a fixed partition), then flushes.
    static func produce(
        _ producer: KafkaProducer,
        topic: String,
        range: Range<Int>,
        partition: Int32? = nil
    ) async throws {
        try await blocking {
            for index in range {
                try producer.send(topic: topic, key: key(index), value: value(index), partition: partition)
                producer.poll()
            }
            try producer.flush(timeout: .seconds(30))
        }
    }

    /// Polls (on the calling thread) until `done` says so or `timeout` passes; returns everything read.
    static func pollUntil(
        _ consumer: KafkaConsumer,
        timeout: Duration = .seconds(30),
        onBatch: (ConsumerBatch) -> Void = { _ in },
        done: ([ConsumerRecord]) -> Bool
    ) throws -> [ConsumerRecord] {
        let deadline = ContinuousClock.now + timeout
        var records: [ConsumerRecord] = []
        while !done(records), ContinuousClock.now < deadline {
            let batch = try consumer.pollBatch(maxRecords: 500, timeout: .milliseconds(200))
            onBatch(batch)
            records += batch.records
        }
        return records
    }
}

/// Records what the rebalance hooks saw.
final class RebalanceLog: Sendable {
    private let state = Mutex<(assigns: [[TopicPartition]], revokes: [[TopicPartition]])>(([], []))

    var assigns: [[TopicPartition]] { self.state.withLock { $0.assigns } }
    var revokes: [[TopicPartition]] { self.state.withLock { $0.revokes } }

    func assigned(_ partitions: [TopicPartition]) {
        self.state.withLock { $0.assigns.append(partitions) }
    }

    func revoked(_ partitions: [TopicPartition]) {
        self.state.withLock { $0.revokes.append(partitions) }
    }
}

extension TestSupport {
    /// A consumer whose `onAssign` starts every partition where `start` says (default: beginning).
    static func makeConsumer(
        _ cluster: MockKafkaCluster,
        group: String,
        topic: String,
        log: RebalanceLog = RebalanceLog(),
        start: @escaping @Sendable (TopicPartition) throws -> KafkaOffset = { _ in .beginning }
    ) throws -> KafkaConsumer {
        try KafkaConsumer(
            config: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
            groupID: group,
            topics: [topic],
            logger: makeLogger(),
            onAssign: { partitions in
                log.assigned(partitions)
                var offsets: [TopicPartition: KafkaOffset] = [:]
                for partition in partitions {
                    offsets[partition] = try start(partition)
                }
                return offsets
            },
            onRevoke: { partitions in log.revoked(partitions) }
        )
    }
}
