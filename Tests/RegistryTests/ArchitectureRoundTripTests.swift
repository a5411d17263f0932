import Foundation
import Learning
import LearningTestSupport
import Model
import Postgres
import Simulation
import TestSupport
import Testing

@testable import Registry

/// Every architecture of the table (``ModelArchitectures/all``) through the registry: a bootstrap version reads back
/// bit for bit, and a fine-tune of its online part — stored as that part alone — reconstructs to the same full
/// parameters, bit for bit.
@Suite struct ArchitectureRoundTripTests {
    @Test(arguments: ModelArchitectures.ids)
    func aBootstrapAndAFineTuneOfEveryArchitectureRoundTripBitForBit(architecture: String) throws {
        let fixture = try LearningFixture(world: tinyWorld())
        // A published version's metadata to give the hand-made versions (watermark, window, metrics).
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        guard case .published(let template, _, _) = try learner.bootstrap() else {
            Issue.record("the template bootstrap did not publish")
            return
        }
        let registry = ModelRegistry(connection: connection)
        let record = try #require(try registry.version(template))
        func newVersion(
            _ kind: ModelVersionKind,
            parent: Int64?,
            _ parameters: ModelParameters
        )
            -> ModelRegistry.NewVersion
        {
            ModelRegistry.NewVersion(
                kind: kind,
                parent: parent,
                parameters: parameters,
                watermark: record.watermark,
                trainingWindow: record.trainingWindow,
                hyperparameters: record.hyperparameters,
                metrics: record.metrics,
                createdBy: "test"
            )
        }

        // Small dimensions, the catalog's region dimension.
        var settings = quickConfiguration().model
        settings.regionDimension = record.hyperparameters.regionDimension
        let bootstrap = try ModelArchitectures.initialParameters(
            architecture: architecture,
            seed: 11,
            hyperParameters: settings.hyperParameters
        )
        let parent = try registry.insert(newVersion(.bootstrap, parent: nil, bootstrap))
        #expect(try registry.version(parent)?.architecture == architecture)
        #expect(bits(try registry.parameters(of: parent)) == bits(bootstrap))
        #expect(bits(try registry.model(of: parent).parameters) == bits(bootstrap))

        // A fine-tune: a few optimiser steps of the architecture's own trainer on its online part.
        let model = try ModelArchitectures.model(from: bootstrap)
        let world = fixture.world
        let images = world.images.prefix(40).map {
            ImageFeatures(
                regions: $0.regions,
                regionCount: world.configuration.regions,
                keywords: model.keywordInputs($0.keywords)
            )
        }
        let examples = world.trainingQueries.prefix(32).enumerated().map { index, query in
            TrainingExample(
                query: QueryInput(query.text, buckets: model.hashBuckets),
                positive: images[index % images.count],
                negatives: (1...4).map { images[(index + 7 * $0) % images.count] }
            )
        }
        var trainer = model.makeTrainer(TrainerSettings(learningRate: 0.05, scope: .onlinePart))
        for start in stride(from: 0, to: min(examples.count, 64), by: 16) {
            _ = trainer.step(examples[start..<min(start + 16, examples.count)])
        }
        let tuned = trainer.scoringModel.parameters
        let online = try Architectures.onlineTensorNames(of: architecture)
        let changed = zip(bootstrap.tensors, tuned.tensors).filter { $0.values != $1.values }.map(\.0.name)
        #expect(!changed.isEmpty && changed.allSatisfy(online.contains), "changed: \(changed)")

        let child = try registry.insert(newVersion(.finetune, parent: parent, tuned))
        let stored = try ModelBlob(decoding: try #require(try registry.storedWeights(of: child)).blob)
        #expect(stored.parameters.tensors.map(\.name) == online, "a fine-tune stores its online part alone")
        #expect(bits(try registry.parameters(of: child)) == bits(tuned))
        #expect(bits(try registry.model(of: child).parameters) == bits(tuned))
        // Read through a holder of the parent (as a scoring worker does), too.
        let parentSHA256 = try #require(try registry.version(parent)).sha256
        let applied = try registry.parameters(of: child) { $0 == parentSHA256 ? bootstrap : nil }
        #expect(bits(applied) == bits(tuned))
    }
}

/// Parameters as bit patterns, so `-0.0` and `0.0` (equal as floats) differ.
private func bits(_ parameters: ModelParameters) -> [String] {
    ["architecture \(parameters.architecture)"]
        + parameters.hyperParameters.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.bitPattern)" }
        + parameters.tensors.map { tensor in
            "\(tensor.name) \(tensor.rows)×\(tensor.columns) "
                + tensor.values.map { String($0.bitPattern, radix: 16) }.joined(separator: ",")
        }
}
