import Evaluation
import Foundation
import Model
import Postgres

/// The version registry in PostgreSQL: immutable `model_versions` (weights, sha256, lineage, training window,
/// metrics), their `model_baselines`, and the append-only `model_activations` log (design §7).
///
/// Every activation, whoever writes it, is announced on ``activationChannel`` by a trigger.
public struct ModelRegistry: Sendable {
    /// The `NOTIFY` channel of activations; the payload is the version number.
    public static let activationChannel = "amc_model_activated"

    /// First key of every advisory lock amc-stream takes (`'AMC'` in ASCII); the second key says which lock:
    /// learner leadership holds `(namespace, 1)`, activations serialise on `(namespace, 2)`.
    public static let advisoryLockNamespace: Int32 = 0x41_4D43

    private let connection: PostgresConnection

    /// - Parameter connection: A connection to a migrated database.
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    // MARK: - Reading

    /// The active version: the one named by the latest activation, nil before the first.
    public func activeVersion() throws -> Int64? {
        try connection.query("SELECT version FROM model_activations ORDER BY id DESC LIMIT 1").first?
            .decode(Int64.self, column: 0)
    }

    /// Whether any version was ever published.
    public func hasVersions() throws -> Bool {
        try connection.query("SELECT EXISTS (SELECT 1 FROM model_versions)")[0].decode(Bool.self, column: 0)
    }

    /// The version that was active before the current one (the latest activation's `previous_version`): where
    /// `amc model rollback` returns to. Nil before the second activation.
    public func previousVersion() throws -> Int64? {
        try latestActivation()?.previousVersion
    }

    /// The latest activation (the active version, who activated it and when), nil before the first.
    public func latestActivation() throws -> ModelActivation? {
        try connection.query(
            """
            SELECT id, version, previous_version, actor, reason, activated_at
            FROM model_activations ORDER BY id DESC LIMIT 1
            """
        ).first.map(Self.decodeActivation)
    }

    /// A version's metadata (no weights), nil when there is no such version.
    public func version(_ version: Int64) throws -> ModelVersion? {
        try connection.query(
            """
            SELECT version, kind, parent, format_version, sha256, watermark::text, training_window::text,
                   hyperparameters::text, metrics::text, baselines::text, created_by, created_at
            FROM model_versions WHERE version = \(version)
            """
        ).first.map(Self.decodeVersion)
    }

    /// Every version, oldest first (metadata only).
    public func versions() throws -> [ModelVersion] {
        try connection.query(
            """
            SELECT version, kind, parent, format_version, sha256, watermark::text, training_window::text,
                   hyperparameters::text, metrics::text, baselines::text, created_by, created_at
            FROM model_versions ORDER BY version
            """
        ).map(Self.decodeVersion)
    }

    /// The activation log, oldest first.
    public func activations() throws -> [ModelActivation] {
        try connection.query(
            """
            SELECT id, version, previous_version, actor, reason, activated_at
            FROM model_activations ORDER BY id
            """
        ).map(Self.decodeActivation)
    }

    /// A version's weights, checked against its stored sha256 and decoded.
    /// - Throws: ``RegistryError`` when the version does not exist or its blob does not match its sha256;
    ///   `ModelError` when the blob is malformed.
    public func weights(of version: Int64) throws -> AMCWeights {
        guard let stored = try storedWeights(of: version) else {
            throw RegistryError("model version \(version) does not exist")
        }
        return try Self.verifiedWeights(blob: stored.blob, sha256: stored.sha256, what: "model version \(version)")
    }

    /// A version's weights blob exactly as stored, and the sha256 stored with it, unchecked (`amc model export`);
    /// nil when there is no such version.
    public func storedWeights(of version: Int64) throws -> (blob: [UInt8], sha256: String)? {
        // Binary format: the 2 MB blob travels as itself, not as 4 MB of hex to encode and decode.
        guard
            let row = try connection.queryBinary(
                "SELECT weights, sha256 FROM model_versions WHERE version = \(version)"
            ).first, let blob = row[0], let sha256 = row[1]
        else { return nil }
        return (blob, String(decoding: sha256, as: UTF8.self))
    }

    /// The single-modality baselines of a version's lineage: those trained beside its bootstrap ancestor.
    /// - Returns: Weights by mode (`imageOnly`, `keywordOnly`); empty when none were trained.
    public func baselines(of version: Int64) throws -> [ModalityMode: AMCWeights] {
        let rows = try connection.query(
            """
            WITH RECURSIVE lineage AS (
                SELECT version, parent FROM model_versions WHERE version = \(version)
                UNION ALL
                SELECT v.version, v.parent FROM model_versions v JOIN lineage l ON v.version = l.parent
            )
            SELECT b.modality, b.weights, b.sha256, b.version
            FROM model_baselines b JOIN lineage l ON b.version = l.version AND l.parent IS NULL
            """
        )
        var result: [ModalityMode: AMCWeights] = [:]
        for row in rows {
            let name = try row.decode(String.self, column: 0)
            guard let mode = ModalityMode(rawValue: name) else { continue }
            result[mode] = try Self.verifiedWeights(
                blob: try row.decode([UInt8].self, column: 1),
                sha256: try row.decode(String.self, column: 2),
                what: "\(name) baseline of version \(try row.decode(Int64.self, column: 3))"
            )
        }
        return result
    }

    /// Decodes a weights blob after checking it against the sha256 it was stored with: the hex SHA-256 of the blob
    /// itself, as `sha256sum` prints it for the file `amc model export` writes. The form stored before migration
    /// 0006 (the SHA-256 of that hex text) is accepted too, so a worker upgraded before `amc migrate`, or a row a
    /// learner not yet upgraded writes after it, still verifies: it commits to the same bytes.
    /// - Throws: ``RegistryError`` naming `what` when the digest differs; `ModelError` for a malformed blob.
    public static func verifiedWeights(blob: [UInt8], sha256: String, what: String) throws -> AMCWeights {
        let actual = SHA256.hexDigest(of: blob)
        guard actual == sha256 || SHA256.hexDigest(of: Array(actual.utf8)) == sha256 else {
            throw RegistryError("\(what): weights fail their sha256 check (stored \(sha256), computed \(actual))")
        }
        return try AMCWeights(blob: blob)
    }

    // MARK: - Writing

    /// A version to publish.
    public struct NewVersion: Sendable {
        public var kind: ModelVersionKind
        public var parent: Int64?
        public var weights: AMCWeights
        public var watermark: String
        public var trainingWindow: TrainingWindow
        public var hyperparameters: Hyperparameters
        public var metrics: VersionMetrics
        /// Baseline weights and their held-out metrics (bootstrap only).
        public var baselines: [ModalityMode: (weights: AMCWeights, metrics: RankingMetrics)]
        /// Who wrote it (host and process).
        public var createdBy: String

        public init(
            kind: ModelVersionKind,
            parent: Int64?,
            weights: AMCWeights,
            watermark: String,
            trainingWindow: TrainingWindow,
            hyperparameters: Hyperparameters,
            metrics: VersionMetrics,
            baselines: [ModalityMode: (weights: AMCWeights, metrics: RankingMetrics)] = [:],
            createdBy: String
        ) {
            self.kind = kind
            self.parent = parent
            self.weights = weights
            self.watermark = watermark
            self.trainingWindow = trainingWindow
            self.hyperparameters = hyperparameters
            self.metrics = metrics
            self.baselines = baselines
            self.createdBy = createdBy
        }
    }

    /// Inserts a version and its baselines. Call inside a transaction to publish and activate atomically.
    /// - Returns: The new version number.
    public func insert(_ new: NewVersion) throws -> Int64 {
        let blob = new.weights.serialized()
        let formatVersion = Int(AMCWeights.blobFormatVersion)
        var baselineMetrics: [String: RankingMetrics] = [:]
        for (mode, baseline) in new.baselines { baselineMetrics[mode.rawValue] = baseline.metrics }
        let rows = try connection.query(
            """
            INSERT INTO model_versions (kind, parent, format_version, weights, sha256, watermark, training_window,
                                        hyperparameters, metrics, baselines, created_by)
            VALUES (\(new.kind.rawValue), \(new.parent), \(formatVersion), \(blob), \(SHA256.hexDigest(of: blob)),
                    \(new.watermark)::pg_snapshot, \(try RegistryJSON.encode(new.trainingWindow))::jsonb,
                    \(try RegistryJSON.encode(new.hyperparameters))::jsonb,
                    \(try RegistryJSON.encode(new.metrics))::jsonb,
                    \(try RegistryJSON.encode(baselineMetrics))::jsonb, \(new.createdBy))
            RETURNING version
            """
        )
        let version = try rows[0].decode(Int64.self, column: 0)
        for (mode, baseline) in new.baselines.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let baselineBlob = baseline.weights.serialized()
            try connection.execute(
                """
                INSERT INTO model_baselines (version, modality, format_version, weights, sha256)
                VALUES (\(version), \(mode.rawValue), \(formatVersion), \(baselineBlob),
                        \(SHA256.hexDigest(of: baselineBlob)))
                """
            )
        }
        return version
    }

    /// Appends an activation of `version` (serialised against concurrent activations); the trigger announces it.
    /// Call inside a transaction.
    ///
    /// The version's weights are loaded first, as a scoring worker would load them (sha256, blob format, finite
    /// values): the registry never records as active a version that no worker can serve.
    /// - Returns: The activation written.
    /// - Throws: ``RegistryError`` when the version does not exist or its weights do not load.
    @discardableResult
    public func activate(_ version: Int64, actor: String, reason: String) throws -> ModelActivation {
        try connection.execute("SELECT pg_advisory_xact_lock(\(Self.advisoryLockNamespace), 2)")
        guard try self.version(version) != nil else { throw RegistryError("model version \(version) does not exist") }
        try verifyLoadable(version)
        let previous = try activeVersion()
        let row = try connection.query(
            """
            INSERT INTO model_activations (version, previous_version, actor, reason)
            VALUES (\(version), \(previous), \(actor), \(reason))
            RETURNING id, activated_at
            """
        )[0]
        return ModelActivation(
            id: try row.decode(Int64.self, column: 0),
            version: version,
            previousVersion: previous,
            actor: actor,
            reason: reason,
            activatedAt: try row.decode(Date.self, column: 1)
        )
    }

    /// Throws unless `version`'s weights match their sha256, decode and are finite.
    private func verifyLoadable(_ version: Int64) throws {
        let weights: AMCWeights
        do {
            weights = try self.weights(of: version)
        } catch let error as PostgresError {
            throw error
        } catch let error as RegistryError {
            throw RegistryError("refusing to activate \(error.message)")
        } catch {
            throw RegistryError("refusing to activate model version \(version): its weights do not load (\(error))")
        }
        guard weights.isFinite else {
            throw RegistryError("refusing to activate model version \(version): its weights are not finite")
        }
    }

    // MARK: - Decoding

    private static func decodeActivation(_ row: PostgresRow) throws -> ModelActivation {
        ModelActivation(
            id: try row.decode(Int64.self, column: 0),
            version: try row.decode(Int64.self, column: 1),
            previousVersion: try row.decode(Int64?.self, column: 2),
            actor: try row.decode(String.self, column: 3),
            reason: try row.decode(String.self, column: 4),
            activatedAt: try row.decode(Date.self, column: 5)
        )
    }

    private static func decodeVersion(_ row: PostgresRow) throws -> ModelVersion {
        guard let kind = ModelVersionKind(rawValue: try row.decode(String.self, column: 1)) else {
            throw RegistryError("model_versions.kind holds an unknown value")
        }
        return ModelVersion(
            version: try row.decode(Int64.self, column: 0),
            kind: kind,
            parent: try row.decode(Int64?.self, column: 2),
            formatVersion: try row.decode(Int.self, column: 3),
            sha256: try row.decode(String.self, column: 4),
            watermark: try row.decode(String.self, column: 5),
            trainingWindow: try RegistryJSON.decode(TrainingWindow.self, from: row[6]),
            hyperparameters: try RegistryJSON.decode(Hyperparameters.self, from: row[7]),
            metrics: try RegistryJSON.decode(VersionMetrics.self, from: row[8]),
            baselines: try RegistryJSON.decode([String: RankingMetrics].self, from: row[9]),
            createdBy: try row.decode(String.self, column: 10),
            createdAt: try row.decode(Date.self, column: 11)
        )
    }
}
