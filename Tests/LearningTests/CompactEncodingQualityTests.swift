import Catalog
import Evaluation
import LearningTestSupport
import Model
import Postgres
import Registry
import Simulation
import Testing

@testable import Learning

/// A scoring worker's compact encodings (`serve.encoding`) against full precision on the simulated world: every
/// architecture, bootstrapped on the same small world, ranks the held-out queries' candidates within the stated
/// NDCG@5 bound of its float32 ranking (1e-3 for float16, the default), and no candidate's score moves by more
/// than the stated bound (`Docs/serving.md`, "Compact encodings").
@Suite struct CompactEncodingQualityTests {
    /// Largest NDCG@5 change: float16 keeps within 1e-3 (measured ≤ 1.2e-4); int8, with a scale per 32 values,
    /// does not for AMC (measured 1.6e-3), so its bound is looser.
    static let ndcgBounds: [EncodingPrecision: Double] = [.float16: 1e-3, .int8: 5e-3]
    /// Largest score change of a trained model's candidate (measured ≤ 1.3e-3 in float16, ≤ 5.1e-3 in int8), except
    /// CASC's in int8 (measured 2.1e-2: its softmax temperature λ1 = 9 amplifies the rounding of its fragments).
    static func scoreErrorBound(_ precision: EncodingPrecision, architecture: String) -> Double {
        switch precision {
        case .float32: 0
        case .float16: 2e-3
        case .int8: architecture == "casc" ? 3e-2 : 2e-2
        }
    }

    @Test(arguments: ModelArchitectures.ids)
    func compactEncodingsKeepHeldOutNDCGWithinTheBound(architecture: String) throws {
        let fixture = try LearningFixture(world: smallWorld())
        var configuration = LearnerConfiguration()
        configuration.architecture = architecture
        configuration.model.hashBuckets = 2048
        configuration.model.embeddingDimension = 32
        configuration.model.attentionDimension = 16
        configuration.model.modalityDimension = 16
        configuration.bootstrapEpochs = 4
        configuration.trainBaselines = false
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let version, _, _) = try learner.bootstrap() else {
            Issue.record("the \(architecture) bootstrap did not publish")
            return
        }
        let evaluator = OfflineEvaluator(connection: connection)
        func ndcg5(_ encoding: EncodingPrecision) throws -> Double {
            let report = try evaluator.evaluate(labels: fixture.labels, version: version, encoding: encoding)
            return try #require(report.rows.first { $0.method == architecture }).metrics.ndcg5
        }
        let model = try ModelArchitectures.model(from: ModelRegistry(connection: connection).parameters(of: version))
        let labels = fixture.labels
        let keys = Set(labels.flatMap(\.images)).sorted()
        let table = ImageFeatureTable(
            images: try CatalogStore(connection: connection).images(keys: keys),
            hashBuckets: model.hashBuckets
        )
        let exact = CandidateScorer(table: table)
        let full = try ndcg5(.float32)
        for precision in [EncodingPrecision.float16, .int8] {
            let compact = try ndcg5(precision)
            #expect(
                abs(compact - full) <= Self.ndcgBounds[precision]!,
                "\(architecture) \(precision): NDCG@5 \(compact) against \(full) in float32"
            )
            let scorer = CandidateScorer(table: table, precision: precision)
            var largest = 0.0
            for query in labels {
                let a = exact.scores(model, query: query.query, images: query.images)
                let b = scorer.scores(model, query: query.query, images: query.images)
                for (x, y) in zip(a, b) where x.isFinite { largest = max(largest, abs(x - y)) }
            }
            let bound = Self.scoreErrorBound(precision, architecture: architecture)
            #expect(largest <= bound, "\(architecture) \(precision): largest score change \(largest)")
        }
    }
}
