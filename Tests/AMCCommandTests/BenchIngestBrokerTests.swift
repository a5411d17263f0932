import Foundation
import TestSupport
import Testing

/// `amc bench ingest --brokers HOST:PORT` runs on an external broker (a private noida-db) and reports the same
/// figures as on the embedded mock cluster.
@Suite(.timeLimit(.minutes(5)))
struct BenchIngestBrokerTests {
    @Test(
        .enabled(
            if: BrokerKind.available.contains(.noida),
            "needs noida-db (AMC_TEST_NOIDA_DB, set by Deploy/local/test.sh)"
        )
    )
    func benchIngestRunsOnAnExternalBrokerAndVerifiesItsTotals() async throws {
        let broker = try TestBroker(.noida)
        let result = try await amcWithDeadline(
            [
                "bench", "ingest", "--brokers", broker.bootstrapServers, "--events", "2000", "--queries", "10",
                "--images-per-query", "2", "--partitions", "2", "--lead", "1000", "--steady-rate", "100",
                "--steady-seconds", "1", "--skip-reference", "--log-level", "error",
            ],
            deadline: .seconds(240)
        )
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(
            lines.contains { $0.hasPrefix("on broker \(broker.bootstrapServers), topics clicks-") },
            "\(result.stdout)"
        )
        #expect(lines.contains { $0.contains("verified: every event landed once") }, "\(result.stdout)")
        #expect(lines.last?.hasPrefix("RESULT ingest_events_per_s=") == true, "\(result.stdout)")
    }
}
