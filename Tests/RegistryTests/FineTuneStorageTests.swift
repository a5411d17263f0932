import Foundation
import Learning
import LearningTestSupport
import Model
import Postgres
import Simulation
import TestSupport
import Testing

@testable import Registry

/// Blob format 2 in the registry: a fine-tune version stores only its online part and its parent's checksum, reads
/// back in full through its verified parent chain, and format 1 versions written before still load, activate and
/// roll back.
@Suite struct FineTuneStorageTests {
    /// A bootstrap version and a fine-tune of it (both published and activated), on their learner's session.
    private func bootstrapAndFineTune(
        _ fixture: LearningFixture
    ) throws -> (parent: Int64, child: Int64, connection: PostgresConnection) {
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        guard case .published(let parent, true, _) = try learner.bootstrap() else {
            connection.close()
            throw RegistryError("bootstrap did not publish")
        }
        let queries = fixture.world.trainingQueries.map(\.text)
            .filter { !TrainingData.isHeldOut($0, percent: quickConfiguration().holdoutPercent) }.prefix(3)
        try fixture.addPairs(queries.map { ($0, fixture.world.images[0].key, 4) })
        guard case .published(let child, true, _) = try learner.fineTune() else {
            connection.close()
            throw RegistryError("fine-tuning did not publish")
        }
        return (parent, child, connection)
    }

    @Test func aFineTuneVersionStoresOnlyItsOnlinePartAndItsParentsChecksumAndReadsBackInFull() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (parent, child, connection) = try bootstrapAndFineTune(fixture)
        defer { connection.close() }
        let registry = ModelRegistry(connection: connection)

        let parentBlob = try #require(try registry.storedWeights(of: parent)).blob
        let childBlob = try #require(try registry.storedWeights(of: child)).blob
        let stored = try ModelBlob(decoding: childBlob)
        #expect(stored.parentSHA256 == BlobChecksum.hexDigest(of: parentBlob))
        #expect(stored.parameters.tensors.map(\.name) == AMCWeights.onlineTensorNames)
        #expect(childBlob.count * 10 < parentBlob.count, "\(childBlob.count) bytes vs \(parentBlob.count)")
        #expect(try ModelBlob(decoding: parentBlob).isComplete)

        let record = try #require(try registry.version(child))
        #expect(record.kind == .finetune)
        #expect(record.architecture == "amc")
        #expect(record.formatVersion == 2)
        // The version's sha256 is still the stored blob's, so `sha256sum` of `amc model export` checks it.
        #expect(record.sha256 == BlobChecksum.hexDigest(of: childBlob))

        let full = try registry.parameters(of: child)
        let parentParameters = try registry.parameters(of: parent)
        #expect(full == (try stored.applied(to: parentParameters)))
        for tensor in full.tensors where !AMCWeights.onlineTensorNames.contains(tensor.name) {
            #expect(tensor == parentParameters[tensor.name], "\(tensor.name)")
        }
    }

    @Test func aHolderOfTheParentLoadsOnlyTheFineTunesPart() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (parent, child, connection) = try bootstrapAndFineTune(fixture)
        defer { connection.close() }
        let registry = ModelRegistry(connection: connection)
        let parentParameters = try registry.parameters(of: parent)
        let parentSHA256 = try #require(try registry.version(parent)).sha256
        let full = try registry.parameters(of: child)

        // With the parent held, its row is never read: even a damaged parent row does not matter.
        try fixture.corrupt(parent)
        #expect(throws: RegistryError.self) { try registry.parameters(of: parent) }
        var asked: [String] = []
        let loaded = try registry.parameters(of: child) { sha256 in
            asked.append(sha256)
            return sha256 == parentSHA256 ? parentParameters : nil
        }
        #expect(loaded == full)
        #expect(asked == [parentSHA256])
        // Without it, the chain is read and the damage found.
        #expect(throws: RegistryError.self) { try registry.parameters(of: child) }
    }

    @Test func aHolderOfTheParentModelGetsTheFineTuneBuiltOnItFromThePartAlone() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (parent, child, connection) = try bootstrapAndFineTune(fixture)
        defer { connection.close() }
        let registry = ModelRegistry(connection: connection)
        let parentModel = try registry.model(of: parent)
        let parentSHA256 = try #require(try registry.version(parent)).sha256
        let full = try registry.parameters(of: child)
        let part = try ModelBlob(decoding: try #require(try registry.storedWeights(of: child)).blob).parameters

        try fixture.corrupt(parent)
        let loaded = try registry.model(of: child) { $0 == parentSHA256 ? parentModel : nil }
        #expect(loaded.base == parentSHA256)
        #expect(loaded.changedTensors == part.tensors)
        #expect(loaded.model.parameters == full)
        #expect(loaded.isFinite)
        // Holding nothing, the chain is read in full and the damaged parent found.
        #expect(throws: RegistryError.self) { try registry.model(of: child) { _ in nil } }
    }

    @Test func aFineTuneWhoseParentRowWasReplacedIsRefused() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (parent, child, connection) = try bootstrapAndFineTune(fixture)
        defer { connection.close() }
        // Other weights under the parent's number, with a sha256 that matches them: only the child's record of
        // its parent's checksum can tell.
        let other = ModelBlob(parameters: AMCWeights(configuration: quickConfiguration().model, seed: 99).parameters)
            .encoded()
        try connection.execute(script: "ALTER TABLE model_versions DISABLE TRIGGER model_versions_immutable")
        try connection.execute(
            """
            UPDATE model_versions SET weights = \(other), sha256 = \(BlobChecksum.hexDigest(of: other))
            WHERE version = \(parent)
            """
        )
        try connection.execute(script: "ALTER TABLE model_versions ENABLE TRIGGER model_versions_immutable")

        let registry = ModelRegistry(connection: connection)
        let refused = try #require(throws: RegistryError.self) { try registry.parameters(of: child) }
        #expect(refused.message.contains("not the ones it was trained from"), "\(refused.message)")
        let activation = try #require(throws: RegistryError.self) {
            try connection.transaction { connection in
                try ModelRegistry(connection: connection).activate(child, actor: "operator", reason: "test")
            }
        }
        #expect(activation.message.hasPrefix("refusing to activate model version \(child)"), "\(activation.message)")
    }

    @Test func aFineTuneThatChangedMoreThanItsOnlinePartIsNotStored() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        guard case .published(let parent, true, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        let registry = ModelRegistry(connection: connection)
        var changed = try AMCWeights(parameters: registry.parameters(of: parent))
        changed.withTensor(.queryWeight) { $0[0] += 1 }
        let record = try #require(try registry.version(parent))
        let new = ModelRegistry.NewVersion(
            kind: .finetune,
            parent: parent,
            parameters: changed.parameters,
            watermark: record.watermark,
            trainingWindow: record.trainingWindow,
            hyperparameters: record.hyperparameters,
            metrics: record.metrics,
            createdBy: "test"
        )
        let refused = try #require(throws: RegistryError.self) { try registry.insert(new) }
        #expect(refused.message.contains("may change only the amc online part"), "\(refused.message)")
        #expect(try registry.versions().count == 1)
    }

    @Test func formatOneVersionsStillLoadActivateAndRollBack() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        guard case .published(let current, true, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        // Two versions as the previous release wrote them (its metadata, the current version's here): complete
        // format 1 blobs, the second a fine-tune of the first.
        let model = try ModelRegistry(connection: connection).weights(of: current).configuration
        let first = AMCWeights(configuration: model, seed: 1)
        var second = first
        second.withTensor(.modalityVisualWeight) { $0[0] += 0.5 }
        var versions: [Int64] = []
        for weights in [first, second] {
            let blob = ModelBlob.format1(weights.parameters)
            let parent = versions.last
            versions.append(
                try connection.query(
                    """
                    INSERT INTO model_versions (kind, parent, format_version, weights, sha256, watermark,
                                                training_window, hyperparameters, metrics, created_by)
                    SELECT CASE WHEN \(parent)::bigint IS NULL THEN 'bootstrap' ELSE 'finetune' END, \(parent), 1,
                           \(blob), \(BlobChecksum.hexDigest(of: blob)), watermark, training_window, hyperparameters,
                           metrics, 'previous release'
                    FROM model_versions WHERE version = \(current)
                    RETURNING version
                    """
                )[0].decode(Int64.self, column: 0)
            )
        }
        let registry = ModelRegistry(connection: connection)
        #expect(try registry.weights(of: versions[0]) == first)
        #expect(try registry.weights(of: versions[1]) == second)
        #expect(try registry.version(versions[1])?.architecture == "amc")
        for version in [versions[1], versions[0]] {
            _ = try connection.transaction { connection in
                try ModelRegistry(connection: connection).activate(version, actor: "operator", reason: "test")
            }
        }
        // Roll back to the format 1 fine-tune.
        let previous = try #require(try registry.previousVersion())
        _ = try connection.transaction { connection in
            try ModelRegistry(connection: connection).activate(previous, actor: "operator", reason: "rollback")
        }
        #expect(try registry.activations().map(\.version) == [current, versions[1], versions[0], versions[1]])
    }
}

/// Activations check a fine-tune against the parameters of the parent this process verified, reading only the
/// fine-tune's own part, and still read the whole chain when the parent's row changed.
@Suite struct VerifiedParentActivationTests {
    /// Overwrites `version`'s stored weights with `weights` (and its sha256 column when given): damage the
    /// registry's immutability trigger otherwise refuses.
    private func overwrite(
        _ version: Int64,
        weights: [UInt8],
        sha256: String?,
        on connection: PostgresConnection
    ) throws {
        try connection.execute(script: "ALTER TABLE model_versions DISABLE TRIGGER model_versions_immutable")
        if let sha256 {
            try connection.execute(
                "UPDATE model_versions SET weights = \(weights), sha256 = \(sha256) WHERE version = \(version)"
            )
        } else {
            try connection.execute("UPDATE model_versions SET weights = \(weights) WHERE version = \(version)")
        }
        try connection.execute(script: "ALTER TABLE model_versions ENABLE TRIGGER model_versions_immutable")
    }

    private func activate(_ version: Int64, _ verified: VerifiedParameters, on connection: PostgresConnection) throws {
        try connection.transaction { connection in
            _ = try ModelRegistry(connection: connection, verified: verified)
                .activate(version, actor: "operator", reason: "test")
        }
    }

    @Test func aFineTuneIsCheckedAgainstItsVerifiedParentWithoutReadingTheParentAgain() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        guard case .published(let parent, _, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        let queries = fixture.world.trainingQueries.map(\.text)
            .filter { !TrainingData.isHeldOut($0, percent: quickConfiguration().holdoutPercent) }.prefix(3)
        try fixture.addPairs(queries.map { ($0, fixture.world.images[0].key, 4) })
        guard case .published(let child, _, _) = try learner.fineTune() else {
            Issue.record("fine-tuning did not publish")
            return
        }
        let verified = VerifiedParameters()
        try activate(parent, verified, on: connection)
        let parentSHA256 = try #require(try ModelRegistry(connection: connection).version(parent)?.sha256)
        #expect(verified.parameters(parentSHA256) != nil)

        // The parent's bytes damaged under an unchanged checksum: a registry that verified the parent checks the
        // fine-tune against what it verified and never reads them; one that did not reads the chain and refuses.
        let stored = try #require(try ModelRegistry(connection: connection).storedWeights(of: parent))
        var damaged = stored.blob
        damaged[damaged.count - 1] ^= 0xFF
        try overwrite(parent, weights: damaged, sha256: nil, on: connection)
        try activate(child, verified, on: connection)
        #expect(throws: RegistryError.self) { try activate(child, VerifiedParameters(), on: connection) }

        // Other weights under the parent's number and a checksum that matches them: the row no longer records the
        // checksum the parent was verified under, so the chain is read and the child's record of it refuses.
        let other = ModelBlob(parameters: AMCWeights(configuration: quickConfiguration().model, seed: 99).parameters)
            .encoded()
        try overwrite(parent, weights: other, sha256: BlobChecksum.hexDigest(of: other), on: connection)
        let refused = try #require(throws: RegistryError.self) { try activate(child, verified, on: connection) }
        #expect(refused.message.contains("not the ones it was trained from"), "\(refused.message)")
    }

    @Test func theCacheKeepsTheMostRecentlyUsedVersions() {
        let verified = VerifiedParameters(capacity: 2)
        let parameters = ModelParameters(architecture: "amc", hyperParameters: [:], tensors: [])
        verified.insert("a", parameters)
        verified.insert("b", parameters)
        #expect(verified.parameters("a") != nil)  // a is now the most recently used
        verified.insert("c", parameters)
        #expect(verified.parameters("b") == nil)
        #expect(verified.parameters("a") != nil && verified.parameters("c") != nil)
    }
}
