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

@Suite struct ArchitectureLearningTests {
    /// `learn.architecture = late_fusion`: the bootstrap publishes a late-fusion version, a fine-tune changes only
    /// its gate (and records the scope `online_part`), and `amc eval` reports the version as its own row beside
    /// the baselines.
    @Test func lateFusionBootstrapsFineTunesItsGateAndIsEvaluatedAsItsOwnRow() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.architecture = LateFusionModel.architecture
        configuration.trainBaselines = true
        configuration.gateTolerance = 10
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let version, true, let gate) = try learner.bootstrap() else {
            Issue.record("the late-fusion bootstrap did not publish and activate")
            return
        }
        #expect(gate.finiteWeights)
        let registry = ModelRegistry(connection: connection)
        #expect(try registry.version(version)?.architecture == "late_fusion")
        let parent = try registry.parameters(of: version)
        #expect(parent.architecture == "late_fusion")

        let queries = fixture.world.trainingQueries.map(\.text)
            .filter { !TrainingData.isHeldOut($0, percent: configuration.holdoutPercent) }.prefix(3)
        try fixture.addPairs(queries.map { ($0, fixture.world.images[0].key, 4) })
        guard case .published(let child, _, _) = try learner.fineTune() else {
            Issue.record("fine-tuning the late-fusion version did not publish")
            return
        }
        let record = try #require(try registry.version(child))
        #expect(record.architecture == "late_fusion" && record.parent == version)
        #expect(record.hyperparameters.scope == "online_part")
        let tuned = try registry.parameters(of: child)
        var changed: [String] = []
        for (before, after) in zip(parent.tensors, tuned.tensors) where before.values != after.values {
            changed.append(before.name)
        }
        #expect(changed == LateFusionModel.onlineTensorNames)

        let report = try OfflineEvaluator(connection: connection).evaluate(labels: fixture.labels)
        #expect(report.version == child)
        #expect(
            report.rows.map(\.method) == [
                "late_fusion", "click_prior", "keyword_only", "image_only", "late_fusion_fixed",
            ]
        )
    }

    /// `learn.architecture = casc`: the bootstrap publishes a CASC version that reloads from the registry, and a
    /// fine-tune changes only its online part (gate, temperatures, α) and records the scope `online_part`.
    @Test func cascBootstrapsAndFineTunesOnlyItsOnlinePart() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.architecture = CASCModel.architecture
        configuration.gateTolerance = 10
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let version, true, let gate) = try learner.bootstrap() else {
            Issue.record("the CASC bootstrap did not publish and activate")
            return
        }
        #expect(gate.finiteWeights)
        let registry = ModelRegistry(connection: connection)
        #expect(try registry.version(version)?.architecture == "casc")
        let parent = try registry.parameters(of: version)
        #expect(try ModelArchitectures.model(from: parent) is CASCModel)

        let queries = fixture.world.trainingQueries.map(\.text)
            .filter { !TrainingData.isHeldOut($0, percent: configuration.holdoutPercent) }.prefix(3)
        try fixture.addPairs(queries.map { ($0, fixture.world.images[0].key, 4) })
        guard case .published(let child, _, _) = try learner.fineTune() else {
            Issue.record("fine-tuning the CASC version did not publish")
            return
        }
        let record = try #require(try registry.version(child))
        #expect(record.architecture == "casc" && record.parent == version)
        #expect(record.hyperparameters.scope == "online_part")
        let tuned = try registry.parameters(of: child)
        var changed: [String] = []
        for (before, after) in zip(parent.tensors, tuned.tensors) where before.values != after.values {
            changed.append(before.name)
        }
        #expect(!changed.isEmpty && changed.allSatisfy(CASCModel.onlineTensorNames.contains), "\(changed)")
    }

    /// A version bootstrapped without baselines (another architecture on the same pairs) is compared with the
    /// baselines trained beside another version when asked (the demo's comparison of architectures).
    @Test func aVersionWithoutBaselinesIsComparedWithAnotherVersionsBaselines() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.trainBaselines = true
        configuration.gateTolerance = 10
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let withBaselines, _, _) = try learner.bootstrap() else {
            Issue.record("the bootstrap did not publish")
            return
        }
        configuration.architecture = LateFusionModel.architecture
        configuration.trainBaselines = false
        configuration.activate = false
        let other = Learner(configuration: configuration, connection: connection, worker: "test", logger: testLogger)
        guard case .published(let without, false, _) = try other.bootstrap() else {
            Issue.record("the late-fusion bootstrap did not publish")
            return
        }
        let evaluator = OfflineEvaluator(connection: connection)
        let own = try evaluator.evaluate(labels: fixture.labels, version: without)
        #expect(own.rows.map(\.method) == ["late_fusion", "click_prior"])
        let compared = try evaluator.evaluate(labels: fixture.labels, version: without, baselinesOf: withBaselines)
        #expect(
            compared.rows.map(\.method) == [
                "late_fusion", "click_prior", "keyword_only", "image_only", "late_fusion_fixed",
            ]
        )
        #expect(compared.rows[0] == own.rows[0])
        let active = try evaluator.evaluate(labels: fixture.labels, version: withBaselines)
        #expect(Array(compared.rows.dropFirst(2)) == Array(active.rows.dropFirst(2)))
        let curves = try evaluator.rocCurves(labels: fixture.labels, version: without, baselinesOf: withBaselines)
        #expect(curves.map(\.method) == compared.rows.map(\.method))
    }
}
