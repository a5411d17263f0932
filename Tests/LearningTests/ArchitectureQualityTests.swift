import Evaluation
import LearningTestSupport
import Model
import Postgres
import Registry
import Simulation
import Testing

@testable import Learning

/// Every architecture of the table, bootstrapped on the same small simulated world, ranks the held-out queries'
/// candidates better at the top (NDCG@5) than either single-modality baseline trained beside it.
@Suite struct ArchitectureQualityTests {
    @Test(arguments: ModelArchitectures.ids)
    func onASmallWorldEveryArchitectureBeatsTheKeywordOnlyAndImageOnlyBaselines(architecture: String) throws {
        let fixture = try LearningFixture(world: smallWorld())
        var configuration = LearnerConfiguration()
        configuration.architecture = architecture
        configuration.model.hashBuckets = 2048
        configuration.model.embeddingDimension = 32
        configuration.model.attentionDimension = 16
        configuration.model.modalityDimension = 16
        configuration.bootstrapEpochs = 4
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let version, _, let gate) = try learner.bootstrap() else {
            Issue.record("the \(architecture) bootstrap did not publish")
            return
        }
        #expect(gate.finiteWeights)
        let report = try OfflineEvaluator(connection: connection).evaluate(labels: fixture.labels, version: version)
        let rows = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.method, $0.metrics) })
        let model = try #require(rows[architecture])
        #expect(model.queries == fixture.world.heldOutQueries.count)
        for baseline in ["keyword_only", "image_only"] {
            let metrics = try #require(rows[baseline], "no \(baseline) row beside \(architecture)")
            #expect(model.ndcg5 > metrics.ndcg5, "\(architecture) \(model.ndcg5) vs \(baseline) \(metrics.ndcg5)")
        }
    }
}
