import CoreMetrics
import Evaluation
import LearningTestSupport
import MetricsTestKit
import Postgres
import Registry
import Simulation
import TestSupport
import Testing

@testable import Learning

@Suite struct LearnerMetricsTests {
    @Test func cyclesLossGateActiveVersionAndLeadershipAreRecorded() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let metrics = TestMetrics()
        var configuration = quickConfiguration()
        try withMetricsFactory(metrics) {
            // A bootstrap through the service: leadership is held (1) for the cycle and released (0) after it.
            try LearnerService(
                configuration: configuration,
                databaseURL: fixture.url,
                mode: .bootstrap,
                worker: "test",
                logger: testLogger
            ).runBlocking()
            #expect(try metrics.expectGauge("learn.leader").values == [1, 0])

            // A fine-tune the gate refuses: it would have to beat the active version by a whole NDCG point.
            try fixture.addClicks(fixture.world.clicks(shifted: true))
            configuration.gateTolerance = -1
            try LearnerService(
                configuration: configuration,
                databaseURL: fixture.url,
                mode: .once,
                worker: "test",
                logger: testLogger
            ).runBlocking()
        }

        let connection = try fixture.connect()
        defer { connection.close() }
        let registry = ModelRegistry(connection: connection)
        let version = try #require(try registry.activeVersion())
        #expect(metrics.counterTotal(label: "learn.cycles", dimensions: [("outcome", "published")]) == 1)
        #expect(metrics.counterTotal(label: "learn.cycles", dimensions: [("outcome", "refused")]) == 1)
        #expect(try metrics.expectGauge("learn.active.version").lastValue == Double(version))
        #expect(try metrics.expectTimer("learn.cycle.duration").values.count == 2)

        // The loss and the gate's NDCG@5 are those the versions and runs recorded.
        let published = try #require(try registry.version(version))
        let losses = try metrics.expectGauge("learn.training.loss").values
        #expect(losses.count == 2)
        #expect(losses.first == published.metrics.training.lastEpochLoss)
        let refused = try connection.query("SELECT metrics::text FROM learner_runs WHERE outcome = 'refused'")
        let refusedMetrics = try RegistryJSON.decode(
            VersionMetrics.self,
            from: try refused[0].decode(String.self, column: 0)
        )
        #expect(losses.last == refusedMetrics.training.lastEpochLoss)
        let candidate = try metrics.expectGauge("learn.gate.ndcg5", [("model", "candidate")]).values
        #expect(candidate.count == 2)
        #expect(
            candidate
                == [published.metrics.gate.candidate?.ndcg5, refusedMetrics.gate.candidate?.ndcg5].compactMap { $0 }
        )
        // The bootstrap had no active version to compare with; the fine-tune was compared with it.
        let active = try metrics.expectGauge("learn.gate.ndcg5", [("model", "active")]).values
        #expect(active.count == 1)
        #expect(active == [refusedMetrics.gate.parent?.ndcg5].compactMap { $0 })
    }
}
