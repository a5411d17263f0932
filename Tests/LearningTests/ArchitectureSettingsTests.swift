import LearningTestSupport
import Model
import Postgres
import Registry
import Simulation
import TestSupport
import Testing

@testable import Learning

@Suite struct ArchitectureSettingsTests {
    /// `learn.architectures.<id>`: the bootstrap of an architecture trains with its own epochs, step size and
    /// hyper-parameters (another architecture's settings do not leak into it), and a fine-tune of a version of that
    /// architecture with its own fine-tuning epochs and step size; each version records what it was trained with.
    @Test func anArchitecturesOwnSettingsReachItsBootstrapAndItsFineTunes() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.architecture = LateFusionModel.architecture
        configuration.gateTolerance = 10
        var lateFusion = ArchitectureTrainingSettings()
        lateFusion.bootstrapEpochs = 2
        lateFusion.bootstrapLearningRate = 0.004
        lateFusion.fineTuneEpochs = 3
        lateFusion.fineTuneLearningRate = 0.0007
        lateFusion.hyperParameters = [AMCWeights.HyperParameter.embeddingDimension: 6, "margin": 0.25]
        var amc = ArchitectureTrainingSettings()
        amc.bootstrapEpochs = 5
        amc.hyperParameters = [AMCWeights.HyperParameter.embeddingDimension: 12]
        configuration.architectures = ["late_fusion": lateFusion, "amc": amc]
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }

        guard case .published(let version, true, _) = try learner.bootstrap() else {
            Issue.record("the late-fusion bootstrap did not publish and activate")
            return
        }
        let registry = ModelRegistry(connection: connection)
        let bootstrap = try #require(try registry.version(version))
        #expect(bootstrap.architecture == "late_fusion")
        #expect(bootstrap.hyperparameters.epochs == 2)
        #expect(bootstrap.hyperparameters.learningRate == 0.004)
        #expect(bootstrap.hyperparameters.embeddingDimension == 6)
        #expect(bootstrap.hyperparameters.margin == 0.25)
        let parameters = try registry.parameters(of: version)
        #expect(parameters.hyperParameters["d"] == 6)
        #expect(parameters.hyperParameters["H"] == Double(configuration.model.hashBuckets))
        #expect(parameters.hyperParameters["margin"] == 0.25)

        let queries = fixture.world.trainingQueries.map(\.text)
            .filter { !TrainingData.isHeldOut($0, percent: configuration.holdoutPercent) }.prefix(3)
        try fixture.addPairs(queries.map { ($0, fixture.world.images[0].key, 4) })
        guard case .published(let child, _, _) = try learner.fineTune() else {
            Issue.record("fine-tuning the late-fusion version did not publish")
            return
        }
        let fineTune = try #require(try registry.version(child))
        #expect(fineTune.hyperparameters.epochs == 3)
        #expect(fineTune.hyperparameters.learningRate == 0.0007)
        #expect(fineTune.hyperparameters.embeddingDimension == 6)
    }

    /// Settings without an entry for the architecture are the shared ones.
    @Test func anArchitectureWithoutItsOwnSettingsTrainsWithTheSharedOnes() {
        var configuration = quickConfiguration()
        var amc = ArchitectureTrainingSettings()
        amc.fineTuneEpochs = 7
        configuration.architectures = ["amc": amc]
        #expect(configuration.applying(architecture: "late_fusion") == configuration)
        #expect(configuration.applying(architecture: "amc").fineTuneEpochs == 7)
        #expect(configuration.applying(architecture: "amc").bootstrapEpochs == configuration.bootstrapEpochs)
        let shared = configuration.hyperParameters(of: "late_fusion", regionDimension: 5)
        #expect(shared["D"] == 5 && shared["d"] == Double(configuration.model.embeddingDimension))
    }

    /// A fine-tune reads the catalog's keywords hashed as the version it tunes was trained (its `H`), whatever the
    /// learner's current `learn.model.hash-buckets`: the same fine-tune from learners configured with different
    /// buckets gives bit-identical parameters.
    @Test func aFineTuneHashesKeywordsWithTheTunedVersionsBuckets() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.gateTolerance = 10
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let parent, true, _) = try learner.bootstrap() else {
            Issue.record("the bootstrap did not publish")
            return
        }
        let queries = fixture.world.trainingQueries.map(\.text)
            .filter { !TrainingData.isHeldOut($0, percent: configuration.holdoutPercent) }.prefix(3)
        try fixture.addPairs(queries.map { ($0, fixture.world.images[0].key, 4) })
        configuration.activate = false
        var children: [Int64] = []
        for buckets in [configuration.model.hashBuckets, configuration.model.hashBuckets / 2] {
            var settings = configuration
            settings.model.hashBuckets = buckets
            let tuner = Learner(configuration: settings, connection: connection, worker: "test", logger: testLogger)
            guard case .published(let child, false, _) = try tuner.fineTune() else {
                Issue.record("the fine-tune with \(buckets) configured buckets did not publish")
                return
            }
            children.append(child)
        }
        let registry = ModelRegistry(connection: connection)
        #expect(try registry.version(children[1])?.parent == parent)
        #expect(try registry.parameters(of: children[0]) == registry.parameters(of: children[1]))
    }
}
