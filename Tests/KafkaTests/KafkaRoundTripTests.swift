import Kafka
import Testing

@Suite struct KafkaRoundTripTests {
    @Test func producedKeyedMessagesAreConsumedExactlyOnceInOrder() async throws {
        let topic = "round-trip"
        let count = 1000
        let cluster = try TestSupport.makeCluster(topic: topic, partitions: 3)
        let producer = try TestSupport.makeProducer(cluster)
        try await TestSupport.produce(producer, topic: topic, range: 0..<count)
        #expect(producer.deliveredCount == count)
        #expect(producer.failedCount == 0)
        #expect(producer.lastDeliveryError == nil)

        let log = RebalanceLog()
        let consumer = try TestSupport.makeConsumer(cluster, group: "round-trip-group", topic: topic, log: log)
        let records = try await TestSupport.blocking {
            defer { consumer.close() }
            return try TestSupport.pollUntil(consumer) { $0.count >= count }
        }

        #expect(records.count == count)
        #expect(
            records.map { String(decoding: $0.value, as: UTF8.self) }.sorted()
                == (0..<count).map { String(decoding: TestSupport.value($0), as: UTF8.self) }.sorted()
        )
        let byPartition = Dictionary(grouping: records, by: \.partition)
        #expect(Set(byPartition.keys) == [0, 1, 2])
        for (partition, partitionRecords) in byPartition {
            #expect(
                partitionRecords.map(\.offset) == Array(0..<Int64(partitionRecords.count)),
                "partition \(partition)"
            )
        }
        var partitionOfKey: [[UInt8]: Set<Int32>] = [:]
        for record in records {
            partitionOfKey[record.key ?? [], default: []].insert(record.partition)
            #expect(record.topic == topic)
            #expect(record.timestampMilliseconds != nil)
        }
        #expect(partitionOfKey.count == 37)
        #expect(partitionOfKey.values.allSatisfy { $0.count == 1 })
        #expect(log.assigns.count == 1)
        #expect(Set(log.assigns.first ?? []).count == 3)
        // close() revoked exactly what was assigned.
        #expect(Set(log.revokes.last ?? []) == Set(log.assigns.first ?? []))
        #expect(consumer.assignment.isEmpty)
    }

    @Test func onAssignOffsetsAreHonouredAndSeekMovesThePosition() async throws {
        let topic = "assign-offsets"
        let cluster = try TestSupport.makeCluster(topic: topic, partitions: 2)
        let producer = try TestSupport.makeProducer(cluster)
        try await TestSupport.produce(producer, topic: topic, range: 0..<20, partition: 0)
        try await TestSupport.produce(producer, topic: topic, range: 20..<25, partition: 1)

        let consumer = try TestSupport.makeConsumer(cluster, group: "assign-offsets-group", topic: topic) {
            $0.partition == 0 ? .absolute(10) : .beginning
        }
        let p0 = TopicPartition(topic: topic, partition: 0)
        let (first, afterSeek) = try await TestSupport.blocking {
            defer { consumer.close() }
            let first = try TestSupport.pollUntil(consumer) { $0.count >= 15 }
            try consumer.seek(p0, to: 15, timeout: .seconds(60))
            let afterSeek = try TestSupport.pollUntil(consumer) { $0.count >= 5 }
            return (first, afterSeek)
        }

        #expect(first.count == 15)
        let firstP0 = first.filter { $0.partition == 0 }
        #expect(firstP0.first?.offset == 10)
        #expect(firstP0.map(\.offset) == Array(10..<20))
        #expect(first.filter { $0.partition == 1 }.map(\.offset) == Array(0..<5))
        #expect(afterSeek.map(\.offset) == Array(15..<20))
        #expect(afterSeek.allSatisfy { $0.partition == 0 })
    }

    @Test func watermarksAfterProducing() async throws {
        let topic = "watermarks"
        let cluster = try TestSupport.makeCluster(topic: topic, partitions: 2)
        let producer = try TestSupport.makeProducer(cluster)
        try await TestSupport.produce(producer, topic: topic, range: 0..<37, partition: 1)

        let consumer = try TestSupport.makeConsumer(cluster, group: "watermarks-group", topic: topic)
        let (p0, p1) = try await TestSupport.blocking {
            defer { consumer.close() }
            return (
                try consumer.watermarks(for: TopicPartition(topic: topic, partition: 0), timeout: .seconds(60)),
                try consumer.watermarks(for: TopicPartition(topic: topic, partition: 1), timeout: .seconds(60))
            )
        }
        #expect(p0 == (0, 0))
        #expect(p1 == (0, 37))
    }
}
