import Foundation
import Learning
import LearningTestSupport
import Model
import Postgres
import Registry
import TestSupport
import Testing

@Suite struct RegistryTests {
    @Test func aVersionsWeightsRoundTripBitExactlyAndOneFlippedByteFailsItsSHA256Check() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        guard case .published(let version, true, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish and activate")
            return
        }
        let registry = ModelRegistry(connection: connection)
        let stored = try connection.query("SELECT weights FROM model_versions WHERE version = \(version)")[0]
            .decode([UInt8].self, column: 0)
        let weights = try registry.weights(of: version)
        #expect(ModelBlob(parameters: weights.parameters).encoded() == stored)
        #expect(try AMCWeights(parameters: ModelBlob(decoding: stored).parameters) == weights)

        // Corrupt one byte in storage.
        try fixture.corrupt(version)
        #expect(throws: RegistryError.self) { try registry.weights(of: version) }
        do {
            _ = try registry.weights(of: version)
        } catch let error as RegistryError {
            #expect(error.message.contains("sha256"))
        }
    }

    @Test func versionsAndActivationsCannotBeChangedOrDeleted() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        _ = try learner.bootstrap()
        for statement in [
            "UPDATE model_versions SET created_by = 'someone else'",
            "DELETE FROM model_versions",
            "UPDATE model_activations SET actor = 'someone else'",
            "DELETE FROM model_activations",
        ] {
            #expect(throws: PostgresError.self, "\(statement)") { try connection.execute(script: statement) }
        }
        #expect(try connection.query("SELECT count(*) FROM model_activations")[0].decode(Int.self, column: 0) == 1)
    }

    @Test func anActivationRecordsThePreviousVersionAndIsAnnouncedToListeners() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        let listener = try fixture.connect()
        defer { listener.close() }
        try listener.listen(ModelRegistry.activationChannel)

        guard case .published(let first, true, _) = try learner.bootstrap(),
            case .published(let second, true, _) = try learner.bootstrap()
        else {
            Issue.record("bootstraps did not publish")
            return
        }
        let registry = ModelRegistry(connection: connection)
        let rollback = try connection.transaction { connection in
            try ModelRegistry(connection: connection).activate(first, actor: "operator", reason: "rollback drill")
        }
        #expect(rollback.previousVersion == second)
        #expect(try registry.activeVersion() == first)
        let log = try registry.activations()
        #expect(log.map(\.version) == [first, second, first])
        #expect(log.map(\.previousVersion) == [nil, first, second])
        #expect(log.map(\.actor) == ["learner", "learner", "operator"])

        var payloads: [String] = []
        #expect(
            try eventually(timeout: .seconds(60)) {
                payloads += try listener.waitForNotifications(timeout: .milliseconds(200)).map(\.payload)
                return payloads.count >= 3
            }
        )
        #expect(payloads == ["\(first)", "\(second)", "\(first)"])
    }
}
