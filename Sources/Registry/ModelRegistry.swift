import Evaluation
import Foundation
import Model
import Postgres

/// The version registry in PostgreSQL: immutable `model_versions` (architecture, weights, sha256, lineage, training
/// window, metrics), their `model_baselines`, and the append-only `model_activations` log (design §7).
///
/// Weights are stored and returned as architecture-neutral ``ModelParameters`` in ``ModelBlob`` format 2. A
/// fine-tune version stores only its architecture's online part and its parent's blob checksum; reading it
/// rebuilds the full parameters from the parent chain, verifying every blob on the way (Docs/registry.md).
///
/// Every activation, whoever writes it, is announced on ``activationChannel`` by a trigger.
public struct ModelRegistry: Sendable {
    /// The `NOTIFY` channel of activations; the payload is the version number.
    public static let activationChannel = "amc_model_activated"

    /// First key of every advisory lock amc-stream takes (`'AMC'` in ASCII); the second key says which lock:
    /// learner leadership holds `(namespace, 1)`, activations serialise on `(namespace, 2)`.
    public static let advisoryLockNamespace: Int32 = 0x41_4D43

    private let connection: PostgresConnection
    private let verified: VerifiedParameters

    /// - Parameter connection: A connection to a migrated database.
    public init(connection: PostgresConnection) {
        self.init(connection: connection, verified: .shared)
    }

    /// - Parameters:
    ///   - connection: A connection to a migrated database.
    ///   - verified: The parameters this registry's activations verified, and may check fine-tunes against.
    init(connection: PostgresConnection, verified: VerifiedParameters) {
        self.connection = connection
        self.verified = verified
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
                   hyperparameters::text, metrics::text, baselines::text, created_by, created_at, architecture
            FROM model_versions WHERE version = \(version)
            """
        ).first.map(Self.decodeVersion)
    }

    /// Every version, oldest first (metadata only).
    public func versions() throws -> [ModelVersion] {
        try connection.query(
            """
            SELECT version, kind, parent, format_version, sha256, watermark::text, training_window::text,
                   hyperparameters::text, metrics::text, baselines::text, created_by, created_at, architecture
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

    /// A version's scoring model, built by the architecture its parameters name (``ModelArchitectures``), from its
    /// verified parameters (``parameters(of:cached:)``).
    /// - Throws: As ``parameters(of:cached:)``; `ModelError` (`unknown_architecture`) for an architecture this build
    ///   does not know.
    public func model(of version: Int64) throws -> any ScoringModel {
        try ModelArchitectures.model(from: parameters(of: version))
    }

    /// A version's scoring model, reusing a model the caller holds when the version's lineage reaches it: a
    /// fine-tune whose parent is held is that model with the fine-tune's stored part applied
    /// (``ScoringModel/applyingPart(_:)``: tens of kilobytes read, nothing else rebuilt); a deeper descendant is
    /// built from its parts applied to the held model's parameters (``parameters(of:cached:)``); anything else from
    /// its full parameters.
    /// - Parameters:
    ///   - version: The version.
    ///   - held: Models the caller holds, by the hex SHA-256 of their version's blob (nil for an unknown checksum).
    /// - Throws: As ``parameters(of:cached:)``; `ModelError` when the architecture is unknown or a part does not fit.
    public func model(
        of version: Int64,
        held: (_ sha256: String) -> (any ScoringModel)?
    ) throws -> LoadedModel {
        guard let stored = try storedRow(of: version) else {
            throw RegistryError("model version \(version) does not exist")
        }
        let (blob, _) = try Self.verifiedBlob(
            blob: stored.blob,
            sha256: stored.sha256,
            what: "model version \(version)"
        )
        if let parentSHA256 = blob.parentSHA256, let parent = held(parentSHA256) {
            return LoadedModel(
                model: try parent.applyingPart(blob.parameters),
                base: parentSHA256,
                changedTensors: blob.parameters.tensors
            )
        }
        var base: String?
        let parameters = try self.parameters(of: version) { sha256 in
            guard let model = held(sha256) else { return nil }
            base = sha256
            return model.parameters
        }
        return LoadedModel(model: try ModelArchitectures.model(from: parameters), base: base, changedTensors: nil)
    }

    /// A version's full parameters: its blob checked against its stored sha256 and decoded; for a fine-tune
    /// version that stores only its online part, applied to its parent's parameters, read the same way (each
    /// parent's blob must also hash to the checksum the child recorded).
    /// - Parameters:
    ///   - version: The version.
    ///   - cached: Full parameters the caller already holds, by the hex SHA-256 of their blob (a scoring worker's
    ///     loaded versions): a fine-tune whose parent is among them is applied to it instead of reading the
    ///     parent chain. Return nil for an unknown checksum.
    /// - Throws: ``RegistryError`` when a version of the chain does not exist, its blob does not match its
    ///   sha256 or its child's record of it; `ModelError` when a blob is malformed or a part does not fit.
    public func parameters(
        of version: Int64,
        cached: (_ sha256: String) -> ModelParameters? = { _ in nil }
    ) throws -> ModelParameters {
        var parts: [ModelBlob] = []
        var current = version
        var expected: (sha256: String, child: Int64)?
        while true {
            guard let stored = try storedRow(of: current) else {
                if let expected {
                    throw RegistryError("model version \(expected.child): its parent \(current) does not exist")
                }
                throw RegistryError("model version \(current) does not exist")
            }
            let (blob, computed) = try Self.verifiedBlob(
                blob: stored.blob,
                sha256: stored.sha256,
                what: "model version \(current)"
            )
            if let expected, computed != expected.sha256 {
                throw RegistryError(
                    "model version \(expected.child): its parent \(current)'s weights are not the ones it was trained "
                        + "from (recorded \(expected.sha256), stored \(computed))"
                )
            }
            guard let parentSHA256 = blob.parentSHA256 else {
                return try Self.apply(parts, to: blob.parameters)
            }
            parts.append(blob)
            if let base = cached(parentSHA256) { return try Self.apply(parts, to: base) }
            guard let parent = stored.parent else {
                throw RegistryError("model version \(current) stores only a part but has no parent")
            }
            expected = (parentSHA256, current)
            current = parent
        }
    }

    /// `parts` (child first) applied to the parameters of their oldest ancestor.
    private static func apply(_ parts: [ModelBlob], to base: ModelParameters) throws -> ModelParameters {
        var parameters = base
        for part in parts.reversed() { parameters = try part.applied(to: parameters) }
        return parameters
    }

    /// A version's weights blob exactly as stored, and the sha256 stored with it, unchecked (`amc model export`);
    /// nil when there is no such version.
    public func storedWeights(of version: Int64) throws -> (blob: [UInt8], sha256: String)? {
        try storedRow(of: version).map { ($0.blob, $0.sha256) }
    }

    private func storedRow(of version: Int64) throws -> (blob: [UInt8], sha256: String, parent: Int64?)? {
        // Binary format: a 2 MB blob travels as itself, not as 4 MB of hex to encode and decode.
        guard
            let row = try connection.queryBinary(
                "SELECT weights, sha256, parent FROM model_versions WHERE version = \(version)"
            ).first, let blob = row[0], let sha256 = row[1]
        else { return nil }
        let parent = row[2].map { bytes in bytes.reduce(Int64(0)) { $0 << 8 | Int64($1) } }
        return (blob, String(decoding: sha256, as: UTF8.self), parent)
    }

    /// The single-modality baselines of a version's lineage: those trained beside its bootstrap ancestor.
    /// - Returns: Parameters by mode (`imageOnly`, `keywordOnly`); empty when none were trained.
    public func baselines(of version: Int64) throws -> [ModalityMode: ModelParameters] {
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
        var result: [ModalityMode: ModelParameters] = [:]
        for row in rows {
            let name = try row.decode(String.self, column: 0)
            guard let mode = ModalityMode(rawValue: name) else { continue }
            let (blob, _) = try Self.verifiedBlob(
                blob: try row.decode([UInt8].self, column: 1),
                sha256: try row.decode(String.self, column: 2),
                what: "\(name) baseline of version \(try row.decode(Int64.self, column: 3))"
            )
            guard blob.isComplete else {
                throw RegistryError("\(name) baseline of version \(version) is not a complete set of weights")
            }
            result[mode] = blob.parameters
        }
        return result
    }

    /// Decodes a weights blob after checking it against the sha256 it was stored with: the hex SHA-256 of the blob
    /// itself, as `sha256sum` prints it for the file `amc model export` writes. The form stored before migration
    /// 0006 (the SHA-256 of that hex text) is accepted too, so a row a release before it wrote still verifies: it
    /// commits to the same bytes.
    /// - Returns: The decoded blob and its hex SHA-256.
    /// - Throws: ``RegistryError`` naming `what` when the digest differs; `ModelError` for a malformed blob.
    public static func verifiedBlob(
        blob: [UInt8],
        sha256: String,
        what: String
    ) throws -> (blob: ModelBlob, sha256: String) {
        let (matches, computed) = BlobChecksum.verify(blob, against: sha256)
        guard matches else {
            throw RegistryError("\(what): weights fail their sha256 check (stored \(sha256), computed \(computed))")
        }
        return (try ModelBlob(decoding: blob), computed)
    }

    // MARK: - Writing

    /// A version to publish.
    public struct NewVersion: Sendable {
        /// `bootstrap` (stored whole) or `finetune` (only the architecture's online part is stored).
        public var kind: ModelVersionKind
        /// The version it was fine-tuned from (nil for bootstrap).
        public var parent: Int64?
        /// The full parameters (for a fine-tune, the parent's with the online part changed).
        public var parameters: ModelParameters
        public var watermark: String
        public var trainingWindow: TrainingWindow
        public var hyperparameters: Hyperparameters
        public var metrics: VersionMetrics
        /// Baseline parameters and their held-out metrics (bootstrap only).
        public var baselines: [ModalityMode: (parameters: ModelParameters, metrics: RankingMetrics)]
        /// Who wrote it (host and process).
        public var createdBy: String

        public init(
            kind: ModelVersionKind,
            parent: Int64?,
            parameters: ModelParameters,
            watermark: String,
            trainingWindow: TrainingWindow,
            hyperparameters: Hyperparameters,
            metrics: VersionMetrics,
            baselines: [ModalityMode: (parameters: ModelParameters, metrics: RankingMetrics)] = [:],
            createdBy: String
        ) {
            self.kind = kind
            self.parent = parent
            self.parameters = parameters
            self.watermark = watermark
            self.trainingWindow = trainingWindow
            self.hyperparameters = hyperparameters
            self.metrics = metrics
            self.baselines = baselines
            self.createdBy = createdBy
        }
    }

    /// Inserts a version and its baselines. Call inside a transaction to publish and activate atomically.
    ///
    /// A bootstrap version stores all its parameters; a fine-tune stores only its architecture's online part and
    /// its parent's blob checksum, after checking that the rest equals the parent's (read and verified here).
    /// - Returns: The new version number.
    /// - Throws: ``RegistryError`` when the architecture is unknown, the parent does not load, or a fine-tune
    ///   changed more than the online part.
    public func insert(_ new: NewVersion) throws -> Int64 {
        let architecture = new.parameters.architecture
        let stored: ModelBlob
        switch (new.kind, new.parent) {
        case (.bootstrap, nil):
            stored = ModelBlob(parameters: new.parameters)
        case (.finetune, let parent?):
            stored = try onlinePart(of: new.parameters, parent: parent)
        default:
            throw RegistryError("a bootstrap version has no parent and a fine-tune has one")
        }
        let blob = stored.encoded()
        let formatVersion = Int(ModelBlob.formatVersion)
        var baselineMetrics: [String: RankingMetrics] = [:]
        for (mode, baseline) in new.baselines { baselineMetrics[mode.rawValue] = baseline.metrics }
        let rows = try connection.query(
            """
            INSERT INTO model_versions (kind, parent, architecture, format_version, weights, sha256, watermark,
                                        training_window, hyperparameters, metrics, baselines, created_by)
            VALUES (\(new.kind.rawValue), \(new.parent), \(architecture), \(formatVersion), \(blob),
                    \(BlobChecksum.hexDigest(of: blob)), \(new.watermark)::pg_snapshot,
                    \(try RegistryJSON.encode(new.trainingWindow))::jsonb,
                    \(try RegistryJSON.encode(new.hyperparameters))::jsonb,
                    \(try RegistryJSON.encode(new.metrics))::jsonb,
                    \(try RegistryJSON.encode(baselineMetrics))::jsonb, \(new.createdBy))
            RETURNING version
            """
        )
        let version = try rows[0].decode(Int64.self, column: 0)
        for (mode, baseline) in new.baselines.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let baselineBlob = ModelBlob(parameters: baseline.parameters).encoded()
            try connection.execute(
                """
                INSERT INTO model_baselines (version, modality, format_version, weights, sha256)
                VALUES (\(version), \(mode.rawValue), \(formatVersion), \(baselineBlob),
                        \(BlobChecksum.hexDigest(of: baselineBlob)))
                """
            )
        }
        return version
    }

    /// The blob a fine-tune of `parent` stores: its online tensors and the parent's blob checksum.
    private func onlinePart(of parameters: ModelParameters, parent: Int64) throws -> ModelBlob {
        guard let stored = try storedRow(of: parent) else {
            throw RegistryError("the parent model version \(parent) does not exist")
        }
        let parentSHA256 = BlobChecksum.hexDigest(of: stored.blob)
        let parentParameters = try self.parameters(of: parent)
        let online = Set(try Architectures.onlineTensorNames(of: parameters.architecture))
        var part = parameters
        part.tensors = parameters.tensors.filter { online.contains($0.name) }
        let blob = ModelBlob(parameters: part, parentSHA256: parentSHA256)
        guard (try? blob.applied(to: parentParameters)) == parameters else {
            throw RegistryError(
                "a fine-tune of model version \(parent) may change only the \(parameters.architecture) online part "
                    + "(\(online.sorted().joined(separator: ", ")))"
            )
        }
        return blob
    }

    /// Appends an activation of `version` (serialised against concurrent activations); the trigger announces it.
    /// Call inside a transaction.
    ///
    /// The version's parameters are loaded first, as a scoring worker would load them (sha256 of every blob of its
    /// parent chain, blob format, the architecture's names and shapes, finite values): the registry never records
    /// as active a version that no worker can serve. A fine-tune of a version this process verified before is
    /// checked against that version's verified parameters (``VerifiedParameters``): only its own part is read.
    /// - Returns: The activation written.
    /// - Throws: ``RegistryError`` when the version does not exist or its weights do not load.
    @discardableResult
    public func activate(_ version: Int64, actor: String, reason: String) throws -> ModelActivation {
        try connection.execute("SELECT pg_advisory_xact_lock(\(Self.advisoryLockNamespace), 2)")
        guard let record = try self.version(version) else {
            throw RegistryError("model version \(version) does not exist")
        }
        try verifyLoadable(record)
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

    /// Throws unless `version`'s weights (and its parents') match their sha256, decode, fit their architecture
    /// and are finite. A parent this process verified before (``VerifiedParameters``) is not read again while its
    /// row still records the checksum it was verified under and the fine-tune's blob names that checksum.
    private func verifyLoadable(_ record: ModelVersion) throws {
        let version = record.version
        var verifiedParent: (sha256: String, parameters: ModelParameters)?
        if let parent = record.parent, let parentRecord = try self.version(parent),
            let parameters = verified.parameters(parentRecord.sha256)
        {
            verifiedParent = (parentRecord.sha256, parameters)
        }
        let parameters: ModelParameters
        do {
            parameters = try self.parameters(of: version) { sha256 in
                sha256 == verifiedParent?.sha256 ? verifiedParent?.parameters : nil
            }
            try Architectures.validate(parameters)
        } catch let error as PostgresError {
            throw error
        } catch let error as RegistryError {
            throw RegistryError("refusing to activate \(error.message)")
        } catch {
            throw RegistryError("refusing to activate model version \(version): its weights do not load (\(error))")
        }
        guard parameters.tensors.allSatisfy({ $0.values.allSatisfy(\.isFinite) }) else {
            throw RegistryError("refusing to activate model version \(version): its weights are not finite")
        }
        verified.insert(record.sha256, parameters)
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
            createdAt: try row.decode(Date.self, column: 11),
            architecture: try row.decode(String.self, column: 12)
        )
    }
}
