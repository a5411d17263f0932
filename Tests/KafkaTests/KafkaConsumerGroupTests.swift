import Dispatch
import Kafka
import Synchronization
import Testing

@Suite struct KafkaConsumerGroupTests {
    /// The application's own offset store (what `onAssign` reads), shared by both group members.
    final class OffsetStore: Sendable {
        private let next = Mutex<[TopicPartition: Int64]>([:])
        private let values = Mutex<[String]>([])

        func start(_ partition: TopicPartition) -> KafkaOffset {
            .absolute(self.next.withLock { $0[partition] ?? 0 })
        }

        func process(_ records: [ConsumerRecord]) {
            for record in records {
                self.next.withLock { $0[record.topicPartition] = record.offset + 1 }
            }
            self.values.withLock { $0 += records.map { String(decoding: $0.value, as: UTF8.self) } }
        }

        var processed: [String] { self.values.withLock { $0 } }
    }

    @Test func twoMembersSplitPartitionsAndTheSurvivorTakesOver() async throws {
        let topic = "group-split"
        let all = Set((0..<4).map { TopicPartition(topic: topic, partition: $0) })
        let cluster = try TestSupport.makeCluster(topic: topic, partitions: 4)
        let producer = try TestSupport.makeProducer(cluster)
        try await TestSupport.produce(producer, topic: topic, range: 0..<200)

        let store = OffsetStore()
        let logA = RebalanceLog()
        let logB = RebalanceLog()
        let group = "group-split-group"
        let consumerA = try TestSupport.makeConsumer(cluster, group: group, topic: topic, log: logA, start: store.start)
        let consumerB = try TestSupport.makeConsumer(cluster, group: group, topic: topic, log: logB, start: store.start)

        // Phase 1: both members poll (each on its own thread) until both hold partitions and all 200 are processed.
        let balanced: @Sendable () -> Bool = {
            !consumerA.assignment.isEmpty && !consumerB.assignment.isEmpty
                && consumerA.assignment.union(consumerB.assignment) == all && store.processed.count >= 200
        }
        let phase1: @Sendable (KafkaConsumer) throws -> Void = { consumer in
            _ = try TestSupport.pollUntil(consumer, onBatch: { store.process($0.records) }, done: { _ in balanced() })
        }
        async let a: Void = TestSupport.blocking { try phase1(consumerA) }
        async let b: Void = TestSupport.blocking { try phase1(consumerB) }
        _ = try await (a, b)

        let assignedA = consumerA.assignment
        let assignedB = consumerB.assignment
        #expect(!assignedA.isEmpty && !assignedB.isEmpty)
        #expect(assignedA.isDisjoint(with: assignedB))
        #expect(assignedA.union(assignedB) == all)
        let assignsOfABeforeClose = logA.assigns.count

        // Phase 2: B leaves; A must get every partition (onAssign again) and read the rest.
        try await TestSupport.blocking { consumerB.close() }
        #expect(Set(logB.revokes.last ?? []) == assignedB)
        try await TestSupport.produce(producer, topic: topic, range: 200..<400)
        try await TestSupport.blocking {
            defer { consumerA.close() }
            _ = try TestSupport.pollUntil(
                consumerA,
                onBatch: { store.process($0.records) },
                done: { _ in consumerA.assignment == all && store.processed.count >= 400 }
            )
        }

        #expect(logA.assigns.count > assignsOfABeforeClose)
        #expect(Set(logA.assigns.last ?? []) == all)
        let expected = (0..<400).map { String(decoding: TestSupport.value($0), as: UTF8.self) }
        #expect(store.processed.count == 400)
        #expect(store.processed.sorted() == expected.sorted())
    }

    @Test func throwingOnAssignIsRethrownAndNothingIsAssigned() async throws {
        struct NotReady: Error {}
        let topic = "assign-throws"
        let cluster = try TestSupport.makeCluster(topic: topic, partitions: 2)
        let producer = try TestSupport.makeProducer(cluster)
        try await TestSupport.produce(producer, topic: topic, range: 0..<10)

        let log = RebalanceLog()
        let failing = try TestSupport.makeConsumer(cluster, group: "assign-throws-group", topic: topic, log: log) { _ in
            throw NotReady()
        }
        let outcome = try await TestSupport.blocking { () -> (thrown: Bool, records: Int) in
            defer { failing.close() }
            let deadline = ContinuousClock.now + .seconds(30)
            var records = 0
            while ContinuousClock.now < deadline {
                do {
                    records += try failing.pollBatch(maxRecords: 100, timeout: .milliseconds(200)).records.count
                } catch is NotReady {
                    return (true, records)
                }
            }
            return (false, records)
        }
        #expect(outcome.thrown)
        #expect(outcome.records == 0)
        #expect(failing.assignment.isEmpty)
        #expect(log.revokes.isEmpty)  // never started, so never revoked

        // The recovery path: a new consumer in the same group works.
        let retry = try TestSupport.makeConsumer(cluster, group: "assign-throws-group", topic: topic)
        let records = try await TestSupport.blocking {
            defer { retry.close() }
            return try TestSupport.pollUntil(retry) { $0.count >= 10 }
        }
        #expect(records.count == 10)
    }
}
