import CoreMetrics
import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import Serving
import TestSupport
import Testing

@Suite struct MetricsEndpointTests {
    @Test func swiftMetricsAreExportedUnderAmcNamesWithTheirUnitSuffixes() async throws {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusNamingFactory(registry: registry)
        Counter(label: "ingest.events", factory: factory).increment(by: 3)
        Gauge(label: "ingest.consumer.lag", dimensions: [("topic", "clicks"), ("partition", "1")], factory: factory)
            .record(42)
        Timer(label: "learn.cycle.duration", factory: factory).recordSeconds(0.2)
        Recorder(label: "ingest.batch.size", factory: factory).record(500)

        let app = MetricsEndpoint.buildApplication(host: "127.0.0.1", port: 0, registry: registry, logger: testLogger)
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: response.body)
                let lines = Set(text.split(separator: "\n").map(String.init))
                #expect(lines.contains("amc_ingest_events_total 3"), "\(text)")
                #expect(lines.contains(#"amc_ingest_consumer_lag{topic="clicks",partition="1"} 42.0"#), "\(text)")
                #expect(lines.contains(#"amc_learn_cycle_duration_seconds_bucket{le="0.25"} 1"#), "\(text)")
                #expect(lines.contains("amc_learn_cycle_duration_seconds_count 1"), "\(text)")
                #expect(lines.contains(#"amc_ingest_batch_size_bucket{le="1000.0"} 1"#), "\(text)")
                #expect(!text.contains("ingest.events"))
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/score", method: .post) { #expect($0.status == .notFound) }
        }
    }

    @Test func exportedNamesAreValidPrometheusNames() {
        #expect(
            PrometheusNamingFactory.exportedName("ingest.kafka.errors", suffix: "_total")
                == "amc_ingest_kafka_errors_total"
        )
        #expect(PrometheusNamingFactory.exportedName("a-b c/é9") == "amc_a_b_c__9")
    }
}
