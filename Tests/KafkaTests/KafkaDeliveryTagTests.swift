import Kafka
import Testing

/// A failed delivery comes back with the caller's tag, so `amc produce` can name the line it came from.
@Suite(.timeLimit(.minutes(6)))
struct KafkaDeliveryTagTests {
    @Test func failedDeliveriesReturnTheirTagsOnceAndUntaggedOnesAreOnlyCounted() async throws {
        let topic = "tagged"
        let cluster = try TestSupport.makeCluster(topic: topic, partitions: 1)
        try cluster.setBrokerDown(1)
        let producer = try TestSupport.makeProducer(
            cluster,
            properties: ["message.timeout.ms": "1000", "enable.idempotence": "false"]
        )
        try await TestSupport.blocking {
            try producer.send(topic: topic, key: nil, value: TestSupport.value(1), deliveryTag: 5)
            try producer.send(topic: topic, key: nil, value: TestSupport.value(2))
            try producer.send(topic: topic, key: nil, value: TestSupport.value(3), deliveryTag: 0)
            try producer.flush(timeout: .seconds(30))
        }
        #expect(producer.failedCount == 3)
        let failed = producer.takeFailedDeliveries()
        #expect(failed.map(\.tag).sorted() == [0, 5])
        #expect(failed.allSatisfy { $0.error.code == .messageTimedOut }, "\(failed.map(\.error))")
        #expect(producer.takeFailedDeliveries().isEmpty, "each failure is handed out once")
    }
}
