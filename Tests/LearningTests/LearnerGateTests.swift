import Catalog
import Evaluation
import LearningTestSupport
import Model
import Postgres
import Registry
import Simulation
import TestSupport
import Testing

@testable import Learning

/// The learner's quality gate on real versions: what it judges a fine-tune on, and that a degraded candidate is
/// refused however small the window.
@Suite struct LearnerGateTests {
    @Test func aFineTuneIsJudgedOnItsWindowsHeldOutQueriesToppedUpWithEarlierWindowsAndTheRecordsSayHowMany() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.gateTolerance = 1
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        let queries = fixture.world.trainingQueries.map(\.text)
        let heldOut = queries.filter { TrainingData.isHeldOut($0, percent: configuration.holdoutPercent) }
        let training = try #require(
            queries.first { !TrainingData.isHeldOut($0, percent: configuration.holdoutPercent) }
        )
        try #require(heldOut.count >= 3)
        let image = fixture.world.images[0].key

        // A window with clicks for two held-out queries: judged on those two (nothing earlier yet).
        try fixture.addPairs([(training, image, 3), (heldOut[0], image, 3), (heldOut[1], image, 3)])
        guard case .published(_, _, let first) = try learner.fineTune() else {
            Issue.record("the first fine-tune did not publish")
            return
        }
        let firstComparison = try #require(first.comparison)
        #expect((firstComparison.windowQueries, firstComparison.earlierQueries) == (2, 0))
        #expect(first.candidate?.queries == 2)

        // The next window has one: topped up with the two of the window before (learn.gate.min-queries is 100).
        try fixture.addPairs([(training, image, 3), (heldOut[2], image, 3)])
        guard case .published(let version, _, let second) = try learner.fineTune() else {
            Issue.record("the second fine-tune did not publish")
            return
        }
        let comparison = try #require(second.comparison)
        #expect((comparison.windowQueries, comparison.earlierQueries, comparison.referenceQueries) == (1, 2, 0))
        #expect(comparison.better + comparison.worse + comparison.same == 3)
        #expect(second.candidate?.queries == 3 && second.parent?.queries == 3)
        #expect(second.reason.contains("on 3 queries (1 from this window, 2 from earlier windows)"), "\(second.reason)")

        // The version's metrics and the run log keep the comparison.
        #expect(try ModelRegistry(connection: connection).version(version)?.metrics.gate.comparison == comparison)
        let recorded = try connection.query(
            """
            SELECT (metrics->'gate'->'comparison'->>'window_queries')::int,
                   (metrics->'gate'->'comparison'->>'earlier_queries')::int
            FROM learner_runs WHERE version = \(version)
            """
        )
        #expect(try recorded[0].decode(Int.self, column: 0) == 1)
        #expect(try recorded[0].decode(Int.self, column: 1) == 2)
    }

    @Test func aDeliberatelyDegradedCandidateIsRefusedOnASmallWindowAndOnATopUpOfIt() throws {
        let fixture = try LearningFixture(world: smallWorld())
        var configuration = quickConfiguration()
        configuration.bootstrapEpochs = 2
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let active, true, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        // The active version with its query projection negated: its ranking of each query is roughly reversed.
        var weights = try AMCWeights(parameters: ModelRegistry(connection: connection).parameters(of: active))
        weights.withTensor(.queryWeight) { values in
            for index in values.indices { values[index] = -values[index] }
        }
        weights.withTensor(.queryBias) { values in
            for index in values.indices { values[index] = -values[index] }
        }
        let degraded = AMCModel(weights: weights)
        let scorer = CandidateScorer(
            table: ImageFeatureTable(
                images: try CatalogStore(connection: connection).allImages(),
                hashBuckets: configuration.model.hashBuckets
            )
        )
        let labels = fixture.labels

        // A window of three held-out queries: too few for the sign test, so the tolerance alone refuses the drop.
        let small = try learner.judge(
            degraded,
            against: active,
            queries: GateQueries(queries: Array(labels.prefix(3)), fromWindow: 3),
            scorer: scorer
        )
        #expect(!small.passed, "\(small.reason)")
        #expect(small.comparison?.queries == 3)

        // The same window topped up with earlier windows' queries: the sign test confirms the regression.
        let toppedUp = try learner.judge(
            degraded,
            against: active,
            queries: GateQueries(queries: labels, fromWindow: 3, fromEarlier: labels.count - 3),
            scorer: scorer
        )
        #expect(!toppedUp.passed, "\(toppedUp.reason)")
        let comparison = try #require(toppedUp.comparison)
        #expect(comparison.worse > comparison.better)
        #expect((comparison.pValue ?? 1) <= configuration.gateSignificance, "\(toppedUp.reason)")
        #expect(toppedUp.reason.contains("a real regression"), "\(toppedUp.reason)")
    }
}
