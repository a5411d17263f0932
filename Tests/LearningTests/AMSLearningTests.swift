import Evaluation
import LearningTestSupport
import Model
import Postgres
import Registry
import Simulation
import Testing

@testable import Learning

@Suite struct AMSLearningTests {
    /// `learn.architecture = ams`: the bootstrap publishes an AMS version, a fine-tune changes only its scale gate
    /// and thresholds (scope `online_part`), and the evaluation reports the version as its own row.
    @Test func amsBootstrapsFineTunesItsScaleWeightsAndIsEvaluatedAsItsOwnRow() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.architecture = AMSModel.architecture
        configuration.gateTolerance = 10
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let version, true, let gate) = try learner.bootstrap() else {
            Issue.record("the AMS bootstrap did not publish and activate")
            return
        }
        #expect(gate.finiteWeights)
        let registry = ModelRegistry(connection: connection)
        let parent = try registry.parameters(of: version)
        #expect(parent.architecture == "ams" && parent.hyperParameters["lambda_softmax"] == 20)

        let queries = fixture.world.trainingQueries.map(\.text)
            .filter { !TrainingData.isHeldOut($0, percent: configuration.holdoutPercent) }.prefix(3)
        try fixture.addPairs(queries.map { ($0, fixture.world.images[0].key, 4) })
        guard case .published(let child, _, _) = try learner.fineTune() else {
            Issue.record("fine-tuning the AMS version did not publish")
            return
        }
        let record = try #require(try registry.version(child))
        #expect(record.architecture == "ams" && record.parent == version)
        #expect(record.hyperparameters.scope == "online_part")
        let tuned = try registry.parameters(of: child)
        var changed: [String] = []
        for (before, after) in zip(parent.tensors, tuned.tensors) where before.values != after.values {
            changed.append(before.name)
        }
        #expect(changed == AMSModel.onlineTensorNames)

        let report = try OfflineEvaluator(connection: connection).evaluate(labels: fixture.labels)
        #expect(report.version == child)
        #expect(report.rows.first?.method == "ams")
    }

    /// The bootstrap trains AMS with its own auxiliary weight (`learn.architectures.ams.bootstrap.auxiliary-weight`)
    /// through the generic trainer: the version records the weight, and the weights it trained differ from those of
    /// the same bootstrap without auxiliary losses.
    @Test func amsBootstrapUsesItsArchitecturesAuxiliaryWeight() throws {
        func bootstrap(auxiliaryWeight: Float) throws -> (ModelParameters, Float) {
            let fixture = try LearningFixture(world: tinyWorld())
            var configuration = quickConfiguration()
            configuration.architecture = AMSModel.architecture
            configuration.auxiliaryModalityWeight = 0.7
            var own = ArchitectureTrainingSettings()
            own.auxiliaryModalityWeight = auxiliaryWeight
            configuration.architectures[AMSModel.architecture] = own
            let (learner, connection) = try leadingLearner(fixture, configuration)
            defer { connection.close() }
            guard case .published(let version, _, _) = try learner.bootstrap() else {
                throw LearnerError("the AMS bootstrap did not publish")
            }
            let registry = ModelRegistry(connection: connection)
            let record = try #require(try registry.version(version))
            return (try registry.parameters(of: version), record.hyperparameters.auxiliaryModalityWeight)
        }
        let (withAuxiliary, recorded) = try bootstrap(auxiliaryWeight: 0.25)
        let (without, recordedZero) = try bootstrap(auxiliaryWeight: 0)
        #expect(recorded == 0.25 && recordedZero == 0)
        #expect(withAuxiliary.tensors.map(\.name) == without.tensors.map(\.name))
        #expect(withAuxiliary != without)
    }
}
