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

@Suite struct LearnerTests {
    @Test func onASmallWorldAMCBeatsEveryBaselineAndVisualQueriesWeighThePixelsMore() throws {
        let fixture = try LearningFixture(world: smallWorld())
        var configuration = LearnerConfiguration()
        configuration.model.hashBuckets = 2048
        configuration.model.embeddingDimension = 32
        configuration.model.attentionDimension = 16
        configuration.model.modalityDimension = 16
        configuration.bootstrapEpochs = 4
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let version, true, let gate) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish and activate")
            return
        }
        #expect(gate.finiteWeights)

        let report = try OfflineEvaluator(connection: connection).evaluate(labels: fixture.labels)
        #expect(report.version == version)
        let rows = Dictionary(uniqueKeysWithValues: report.rows.map { ($0.method, $0.metrics) })
        #expect(Set(rows.keys) == ["amc", "click_prior", "keyword_only", "image_only", "late_fusion_fixed"])
        let amc = try #require(rows["amc"])
        #expect(amc.queries == fixture.world.heldOutQueries.count)
        for (method, metrics) in rows where method != "amc" {
            #expect(amc.ndcg5 > metrics.ndcg5, "AMC \(amc.ndcg5) vs \(method) \(metrics.ndcg5)")
        }
        // ROC curves come from the same scores as the AUC: one per row, in order, enclosing the row's AUC (up to
        // the sampling of the false positive rates, at most half an interval per step).
        let curves = try OfflineEvaluator(connection: connection).rocCurves(labels: fixture.labels)
        #expect(curves.map(\.method) == report.rows.map(\.method))
        for (row, entry) in zip(report.rows, curves) {
            #expect(abs(entry.curve.area - row.metrics.auc) <= 0.005, "\(row.method): \(entry.curve.area)")
        }

        // The MTN's modality attention: visual-intent queries put more weight on the pixels than textual ones.
        let model = AMCModel(weights: try ModelRegistry(connection: connection).weights(of: version))
        let table = ImageFeatureTable(
            images: try CatalogStore(connection: connection).allImages(),
            hashBuckets: model.configuration.hashBuckets
        )
        var weights: [Intent: [Float]] = [:]
        for query in fixture.world.heldOutQueries {
            let images = query.candidates.compactMap { table[fixture.world.images[$0.image].key] }
            let scored = model.score(query: query.text, images: images)
            weights[fixture.world.concepts[query.concept].intent, default: []] += scored.map(\.visualWeight)
        }
        let visual = mean(weights[.visual] ?? [])
        let textual = mean(weights[.textual] ?? [])
        #expect(visual > textual, "mean β_v visual-intent \(visual) vs textual-intent \(textual)")
    }

    @Test func fineTuningTrainsOnlyTheMTNOnPairsChangedSinceTheActiveVersion() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        guard case .published(let parent, _, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        guard case .noNewPairs(0) = try learner.fineTune() else {
            Issue.record("a cycle with no new pairs trained anyway")
            return
        }

        // New clicks for three training (non-held-out) queries.
        let queries = fixture.world.trainingQueries.map(\.text)
            .filter { !TrainingData.isHeldOut($0, percent: quickConfiguration().holdoutPercent) }.prefix(3)
        let image = fixture.world.images[0].key
        try fixture.addPairs(queries.map { ($0, image, 4) })

        guard case .published(let child, true, _) = try learner.fineTune() else {
            Issue.record("fine-tuning did not publish")
            return
        }
        let registry = ModelRegistry(connection: connection)
        let record = try #require(try registry.version(child))
        #expect(record.kind == .finetune)
        #expect(record.parent == parent)
        #expect(record.trainingWindow.incremental)
        #expect(record.trainingWindow.pairs == 3)
        #expect(record.hyperparameters.scope == "modality_attention")
        #expect(try registry.activeVersion() == child)

        let before = try registry.weights(of: parent)
        let after = try registry.weights(of: child)
        for tensor in AMCTensor.allCases {
            if tensor.isModalityAttention {
                #expect(before[tensor] != after[tensor], "\(tensor) should have been trained")
            } else {
                #expect(before[tensor] == after[tensor], "\(tensor) must stay bit-identical")
            }
        }
        guard case .noNewPairs = try learner.fineTune() else {
            Issue.record("the same pairs were trained on twice")
            return
        }
    }

    @Test func theGateRefusesAnUpdateWhoseWeightsAreNotFinite() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        guard let (parent, broken, connection) = try refusingLearnerAfterShift(fixture) else { return }
        defer { connection.close() }
        guard case .refused(let gate, let watermark) = try broken.fineTune() else {
            Issue.record("the gate let a broken update through")
            return
        }
        #expect(!gate.finiteWeights)
        #expect(!gate.passed)
        let registry = ModelRegistry(connection: connection)
        #expect(try registry.versions().map(\.version) == [parent])
        #expect(try registry.activeVersion() == parent)
        let runs = try connection.query("SELECT outcome, reason FROM learner_runs ORDER BY id")
        #expect(try runs.map { try $0.decode(String.self, column: 0) } == ["published", "refused"])
        #expect(try runs[1].decode(String.self, column: 1).contains("non-finite"))

        // No retry on the same data; a new click makes the next cycle train again.
        guard case .noNewPairs = try broken.fineTune(unlessNothingChangedSince: watermark) else {
            Issue.record("the refused data was trained on again")
            return
        }
        try addOneTrainingClick(fixture)
        guard case .refused = try broken.fineTune(unlessNothingChangedSince: watermark) else {
            Issue.record("new data was not trained on after a refusal")
            return
        }
    }

    @Test func afterARefusalTheNextCandidatesWindowStartsWhereTheRefusedOneEnded() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        guard let (parent, broken, connection) = try refusingLearnerAfterShift(fixture) else { return }
        defer { connection.close() }
        let parentWatermark = try #require(try ModelRegistry(connection: connection).version(parent)).watermark
        guard case .refused(_, let refusedWatermark) = try broken.fineTune() else {
            Issue.record("the gate let a broken update through")
            return
        }
        // One new click, on one query.
        try addOneTrainingClick(fixture)
        guard case .refused = try broken.fineTune() else {
            Issue.record("the new click was not trained on")
            return
        }

        let windows = try connection.query(
            """
            SELECT training_window->>'since_watermark', (training_window->>'queries')::int
            FROM learner_runs WHERE outcome = 'refused' ORDER BY id
            """
        ).map { (try $0.decode(String.self, column: 0), try $0.decode(Int.self, column: 1)) }
        try #require(windows.count == 2)
        // The first candidate: every query clicked since the active version's watermark.
        #expect(windows[0].0 == parentWatermark)
        #expect(windows[0].1 > 1)
        // The next, from the same parent: only what was clicked after the refused window, not that window again.
        #expect(windows[1].0 == refusedWatermark)
        #expect(windows[1].1 == 1)
    }
}

/// A bootstrapped, active version with the world's shifted clicks after it, and a learner holding leadership whose
/// every candidate the gate refuses (a learning rate that makes the weights non-finite); nil (an issue recorded) when
/// the bootstrap did not publish. The caller closes the connection.
private func refusingLearnerAfterShift(
    _ fixture: LearningFixture
) throws -> (parent: Int64, learner: Learner, connection: PostgresConnection)? {
    var configuration = quickConfiguration()
    let (learner, connection) = try leadingLearner(fixture, configuration)
    guard case .published(let parent, true, _) = try learner.bootstrap() else {
        connection.close()
        Issue.record("bootstrap did not publish")
        return nil
    }
    try fixture.addClicks(fixture.world.clicks(shifted: true))
    configuration.fineTuneLearningRate = .greatestFiniteMagnitude
    let broken = Learner(configuration: configuration, connection: connection, worker: "test", logger: testLogger)
    return (parent, broken, connection)
}

/// One click event (3 clicks) on the first training query that is not held out, and the catalog's first image.
private func addOneTrainingClick(_ fixture: LearningFixture) throws {
    let query = try #require(
        fixture.world.trainingQueries.map(\.text)
            .first { !TrainingData.isHeldOut($0, percent: quickConfiguration().holdoutPercent) }
    )
    try fixture.addPairs([(query, fixture.world.images[0].key, 3)])
}

private func mean(_ values: [Float]) -> Float {
    values.isEmpty ? 0 : values.reduce(0, +) / Float(values.count)
}
