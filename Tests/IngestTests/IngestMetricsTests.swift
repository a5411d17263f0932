import CoreMetrics
import Kafka
import MetricsTestKit
import TestSupport
import Testing

@testable import Ingest

@Suite(.timeLimit(.minutes(6)))
struct IngestMetricsTests {
    @Test func eventsDeadLettersBatchesLatencyAndLagAreReported() async throws {
        let url = try TestPostgres.freshDatabase()
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 2)
        let fixture = ClickLogFixture(count: 2000, badEvery: 50)
        try produce(fixture.lines, keys: fixture.keys, topic: "clicks", brokers: cluster.bootstrapServers)

        var configuration = IngestConfiguration()
        configuration.topics = ["clicks"]
        configuration.batchMaxRecords = 300
        configuration.untilIdle = .seconds(2)
        configuration.lagRefreshInterval = .milliseconds(100)
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            try await IngestService(
                configuration: configuration,
                kafka: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
                databaseURL: url,
                logger: testLogger
            ).run()
        }

        #expect(metrics.counterTotal(label: "ingest.events") == Int64(fixture.validCount))
        #expect(metrics.counterTotal(label: "ingest.dead_letters") == Int64(fixture.invalid.count))
        let batches = metrics.counterTotal(label: "ingest.batches")
        #expect(batches >= 2000 / 300)
        #expect(try metrics.expectTimer("ingest.batch.duration").values.count == Int(batches))
        #expect(try metrics.expectRecorder("ingest.batch.size").values.reduce(0, +) == 2000)
        // Lag is reported per partition and ends at zero once everything is ingested.
        for partition in 0..<2 {
            let lag = try metrics.expectGauge(
                "ingest.consumer.lag",
                [("topic", "clicks"), ("partition", "\(partition)")]
            )
            #expect(lag.lastValue == 0)
        }
    }
}
