import Foundation
import Learning
import LearningTestSupport
import Model
import Postgres
import TestSupport
import Testing

@testable import Registry

/// The sha256 of versions and baselines is the hex SHA-256 of the stored blob (what `sha256sum` prints for the file
/// `amc model export` writes), activation refuses a version whose blob fails it, and migration 0006 rewrites the
/// checksums earlier releases stored (SHA-256 of the hex text of that digest), verifying each row first.
@Suite struct WeightsChecksumTests {
    @Test func aVersionsAndItsBaselinesSHA256IsTheHexSHA256OfTheStoredBlob() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.trainBaselines = true
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let version, _, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        // PostgreSQL's own sha256() is the independent reference here.
        for table in ["model_versions", "model_baselines"] {
            let rows = try connection.query(
                "SELECT sha256, encode(sha256(weights), 'hex') FROM \(unescaped: table) WHERE version = \(version)"
            )
            #expect(rows.count == (table == "model_versions" ? 1 : 2), "\(table)")
            for row in rows {
                #expect(try row.decode(String.self, column: 0) == row.decode(String.self, column: 1), "\(table)")
            }
        }
        let stored = try #require(try ModelRegistry(connection: connection).storedWeights(of: version))
        #expect(stored.sha256 == SHA256.hexDigest(of: stored.blob))

        // The form stored before migration 0006 still verifies (an upgrade may run workers or learners of either
        // release around the migration); any other value is refused.
        let earlierForm = SHA256.hexDigest(of: Array(stored.sha256.utf8))
        _ = try ModelRegistry.verifiedBlob(blob: stored.blob, sha256: earlierForm, what: "earlier form")
        #expect(throws: RegistryError.self) {
            try ModelRegistry.verifiedBlob(
                blob: stored.blob,
                sha256: SHA256.hexDigest(of: Array(earlierForm.utf8)),
                what: "neither form"
            )
        }
    }

    @Test func activatingAVersionWhoseWeightsFailTheirSHA256IsRefusedAndNothingIsRecorded() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.gateTolerance = 10
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let first, true, _) = try learner.bootstrap(),
            case .published(let second, true, _) = try learner.bootstrap()
        else {
            Issue.record("bootstraps did not publish")
            return
        }
        try fixture.corrupt(first)
        let registry = ModelRegistry(connection: connection)
        let refused = try #require(throws: RegistryError.self) {
            try connection.transaction { connection in
                try ModelRegistry(connection: connection).activate(first, actor: "operator", reason: "rollback")
            }
        }
        #expect(
            refused.message.hasPrefix("refusing to activate model version \(first): weights fail their sha256 check"),
            "\(refused.message)"
        )
        #expect(!refused.message.contains("\n"))
        #expect(try registry.activeVersion() == second)
        #expect(try registry.activations().map(\.version) == [first, second])
    }

    @Test func theChecksumMigrationRewritesVerifiedRowsAndLeavesDamagedOnesRefused() throws {
        let url = try TestPostgres.freshDatabase(migrated: false)
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        let all = repositoryRoot.appendingPathComponent("Migrations")
        let upTo0005 = FileManager.default.temporaryDirectory.appendingPathComponent("amc-0005-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: upTo0005, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: upTo0005) }
        let upTo0006 = FileManager.default.temporaryDirectory.appendingPathComponent("amc-0006-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: upTo0006, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: upTo0006) }
        for name in try FileManager.default.contentsOfDirectory(atPath: all.path) where name < "0007" {
            try FileManager.default.copyItem(
                at: all.appendingPathComponent(name),
                to: upTo0006.appendingPathComponent(name)
            )
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: all.path) where name < "0006" {
            try FileManager.default.copyItem(
                at: all.appendingPathComponent(name),
                to: upTo0005.appendingPathComponent(name)
            )
        }
        #expect(try Migrator(directory: upTo0005).migrate(connection).count == 5)

        // Versions as earlier releases stored them: sha256 = hex SHA-256 of the hex text of the blob's digest.
        func earlierChecksum(_ blob: [UInt8]) -> String { SHA256.hexDigest(of: SHA256.hexDigest(of: blob)) }
        let model = quickConfiguration().model
        let blobs = (1...3).map { ModelBlob.format1(AMCWeights(configuration: model, seed: UInt64($0)).parameters) }
        let checksums = [earlierChecksum(blobs[0]), earlierChecksum(blobs[1]), earlierChecksum(blobs[0])]
        for (index, (blob, checksum)) in zip(blobs, checksums).enumerated() {
            let parent: Int64? = index == 1 ? 1 : nil
            try connection.execute(
                """
                INSERT INTO model_versions (kind, parent, format_version, weights, sha256, watermark, training_window,
                                            hyperparameters, metrics, created_by)
                VALUES (CASE WHEN \(parent)::bigint IS NULL THEN 'bootstrap' ELSE 'finetune' END, \(parent),
                        \(Int(ModelBlob.formatVersion1)), \(blob), \(checksum), pg_current_snapshot(), '{}', '{}',
                        '{}', 'test')
                """
            )
        }
        try connection.execute(
            """
            INSERT INTO model_baselines (version, modality, format_version, weights, sha256)
            VALUES (1, 'image_only', \(Int(ModelBlob.formatVersion1)), \(blobs[2]), \(earlierChecksum(blobs[2])))
            """
        )

        let applied = try Migrator(directory: upTo0006).migrate(connection)
        #expect(applied.map(\.version) == [6])
        // Later migrations apply over these rows too (format 1 versions stay loadable, see RegistryFormatTests).
        #expect(try Migrator(directory: all).migrate(connection).map(\.version).allSatisfy { $0 > 6 })

        let registry = ModelRegistry(connection: connection)
        let stored = try (1...3).map { try #require(try registry.storedWeights(of: Int64($0))) }
        #expect(stored[0].sha256 == SHA256.hexDigest(of: blobs[0]))
        #expect(stored[1].sha256 == SHA256.hexDigest(of: blobs[1]))
        #expect(try registry.weights(of: 1) == AMCWeights(parameters: ModelBlob(decoding: blobs[0]).parameters))
        // Version 3's blob never matched what was stored for it: its value is kept, and it stays refused.
        #expect(stored[2].sha256 == checksums[2])
        #expect(throws: RegistryError.self) { try registry.weights(of: 3) }
        let baseline = try connection.query("SELECT sha256 FROM model_baselines WHERE version = 1")
        #expect(try baseline[0].decode(String.self, column: 0) == SHA256.hexDigest(of: blobs[2]))

        // The immutability triggers are back on.
        for statement in ["UPDATE model_versions SET sha256 = sha256", "UPDATE model_baselines SET sha256 = sha256"] {
            #expect(throws: PostgresError.self, "\(statement)") { try connection.execute(script: statement) }
        }
    }
}
