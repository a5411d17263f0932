import Evaluation
import Foundation
import Model

/// How a version was trained.
public enum ModelVersionKind: String, Sendable, Codable, Hashable {
    /// Every parameter, from fresh weights, on all pairs so far (`amc learn --bootstrap`).
    case bootstrap
    /// Only the architecture's online part (AMC: the MTN), from the parent's weights, on the pairs changed since
    /// the parent's watermark. Stored as that part alone plus the parent's blob checksum (format 2).
    case finetune
}

/// Which data a version saw (the `training_window` column).
public struct TrainingWindow: Sendable, Codable, Hashable {
    /// Whether only pairs changed since `sinceWatermark` were trained on.
    public var incremental: Bool
    /// The parent's watermark (a `pg_snapshot`) the window starts after; nil for bootstrap.
    public var sinceWatermark: String?
    /// The snapshot the pairs were read in: the new version's watermark.
    public var untilWatermark: String
    /// Pairs trained on (held-out queries excluded).
    public var pairs: Int
    /// Distinct queries among them.
    public var queries: Int
    /// Clicks in the window: all of those pairs' clicks for bootstrap, the clicks since the watermark otherwise.
    public var clicks: Int64
    /// Pairs of held-out queries (never trained on; the gate's slice).
    public var heldOutPairs: Int
    /// Pairs skipped because their image is not in the catalog.
    public var unknownImagePairs: Int
    /// Earliest and latest click time among the trained pairs (RFC 3339), when any.
    public var firstSeen: String?
    public var lastSeen: String?

    /// Creates a value from all of its fields.
    public init(
        incremental: Bool,
        sinceWatermark: String?,
        untilWatermark: String,
        pairs: Int,
        queries: Int,
        clicks: Int64,
        heldOutPairs: Int,
        unknownImagePairs: Int,
        firstSeen: String?,
        lastSeen: String?
    ) {
        self.incremental = incremental
        self.sinceWatermark = sinceWatermark
        self.untilWatermark = untilWatermark
        self.pairs = pairs
        self.queries = queries
        self.clicks = clicks
        self.heldOutPairs = heldOutPairs
        self.unknownImagePairs = unknownImagePairs
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}

/// How a version was trained (the `hyperparameters` column).
public struct Hyperparameters: Sendable, Codable, Hashable {
    /// `all` (bootstrap) or `modality_attention` (MTN only).
    public var scope: String
    public var epochs: Int
    public var batchSize: Int
    public var negatives: Int
    /// Percentage of queries held out for the gate (never trained on); nil in versions written before it was kept.
    public var heldOutPercent: Int?
    /// How many of the negatives came from the same query's lower-graded images.
    public var inQueryNegatives: Int
    /// Weight of the auxiliary single-modality losses (bootstrap; 0 for fine-tuning).
    public var auxiliaryModalityWeight: Float
    public var learningRate: Float
    public var margin: Float
    public var seed: UInt64
    public var hashBuckets: Int
    public var embeddingDimension: Int
    public var attentionDimension: Int
    public var modalityDimension: Int
    public var regionDimension: Int

    /// Creates a value from all of its fields.
    public init(
        scope: String,
        epochs: Int,
        batchSize: Int,
        negatives: Int,
        heldOutPercent: Int?,
        inQueryNegatives: Int,
        auxiliaryModalityWeight: Float,
        learningRate: Float,
        margin: Float,
        seed: UInt64,
        hashBuckets: Int,
        embeddingDimension: Int,
        attentionDimension: Int,
        modalityDimension: Int,
        regionDimension: Int
    ) {
        self.scope = scope
        self.epochs = epochs
        self.batchSize = batchSize
        self.negatives = negatives
        self.heldOutPercent = heldOutPercent
        self.inQueryNegatives = inQueryNegatives
        self.auxiliaryModalityWeight = auxiliaryModalityWeight
        self.learningRate = learningRate
        self.margin = margin
        self.seed = seed
        self.hashBuckets = hashBuckets
        self.embeddingDimension = embeddingDimension
        self.attentionDimension = attentionDimension
        self.modalityDimension = modalityDimension
        self.regionDimension = regionDimension
    }
}

/// The training run behind a version.
public struct TrainingReport: Sendable, Codable, Hashable {
    /// Mean hinge loss per example in the first and the last epoch.
    public var firstEpochLoss: Double
    public var lastEpochLoss: Double
    /// Examples (one positive with its negatives) processed, and how long training took.
    public var examples: Int
    public var seconds: Double

    /// Creates a value from all of its fields.
    public init(
        firstEpochLoss: Double,
        lastEpochLoss: Double,
        examples: Int,
        seconds: Double
    ) {
        self.firstEpochLoss = firstEpochLoss
        self.lastEpochLoss = lastEpochLoss
        self.examples = examples
        self.seconds = seconds
    }
}

/// The quality gate's verdict on a candidate.
public struct GateReport: Sendable, Codable, Hashable {
    /// Whether the candidate may be published.
    public var passed: Bool
    /// Why, in one line.
    public var reason: String
    /// Held-out metrics of the candidate (nil when its weights are not finite), and of the parent (the version
    /// it would replace) when there is one.
    public var candidate: RankingMetrics?
    public var parent: RankingMetrics?
    /// The version compared against.
    public var parentVersion: Int64?
    /// Largest NDCG@5 drop accepted.
    public var tolerance: Double
    /// Whether every weight of the candidate is finite.
    public var finiteWeights: Bool
    /// Which held-out queries the decision was made on and how the candidate fared on each against the parent; nil
    /// when nothing was compared (non-finite weights, no parent) and in records made before it was kept.
    public var comparison: GateComparison?

    /// Creates a value from all of its fields.
    public init(
        passed: Bool,
        reason: String,
        candidate: RankingMetrics?,
        parent: RankingMetrics?,
        parentVersion: Int64?,
        tolerance: Double,
        finiteWeights: Bool,
        comparison: GateComparison? = nil
    ) {
        self.passed = passed
        self.reason = reason
        self.candidate = candidate
        self.parent = parent
        self.parentVersion = parentVersion
        self.tolerance = tolerance
        self.finiteWeights = finiteWeights
        self.comparison = comparison
    }
}

/// The gate's paired comparison of a candidate with its parent: where its held-out queries came from, and on how
/// many of them the candidate's NDCG@5 was higher, lower or the same (`Docs/learning.md`, "The quality gate").
public struct GateComparison: Sendable, Codable, Hashable {
    /// Held-out queries judged by the clicks of the cycle's own window.
    public var windowQueries: Int
    /// Held-out queries judged by the clicks of earlier windows (the most recent first), added to reach
    /// `learn.gate.min-queries`.
    public var earlierQueries: Int
    /// Held-out queries of the fixed reference sample, judged by their totals (a window and its predecessors with no
    /// held-out click, or a bootstrap's whole held-out slice).
    public var referenceQueries: Int
    /// Queries whose NDCG@5 the candidate raised, lowered, or left as it was.
    public var better: Int
    public var worse: Int
    public var same: Int
    /// The two-sided sign test's p-value over the queries it changed; nil when the candidate stayed within the
    /// tolerance (no test needed) or too few queries changed for the test to reach `significance`.
    public var pValue: Double?
    /// The p-value at or below which a drop beyond the tolerance counts as real (`learn.gate.p-value`).
    public var significance: Double

    /// Creates a value from all of its fields.
    public init(
        windowQueries: Int,
        earlierQueries: Int,
        referenceQueries: Int,
        better: Int,
        worse: Int,
        same: Int,
        pValue: Double?,
        significance: Double
    ) {
        self.windowQueries = windowQueries
        self.earlierQueries = earlierQueries
        self.referenceQueries = referenceQueries
        self.better = better
        self.worse = worse
        self.same = same
        self.pValue = pValue
        self.significance = significance
    }

    /// Queries judged in all.
    public var queries: Int { windowQueries + earlierQueries + referenceQueries }
}

/// A version's `metrics` column: the gate and the training run.
public struct VersionMetrics: Sendable, Codable, Hashable {
    public var gate: GateReport
    public var training: TrainingReport

    /// Creates a value from all of its fields.
    public init(
        gate: GateReport,
        training: TrainingReport
    ) {
        self.gate = gate
        self.training = training
    }
}

/// One immutable row of `model_versions`, without its weights.
public struct ModelVersion: Sendable, Hashable {
    public var version: Int64
    public var kind: ModelVersionKind
    public var parent: Int64?
    public var formatVersion: Int
    public var sha256: String
    /// The `pg_snapshot` the training pairs were read in.
    public var watermark: String
    public var trainingWindow: TrainingWindow
    public var hyperparameters: Hyperparameters
    public var metrics: VersionMetrics
    /// Held-out metrics of the single-modality baselines trained beside a bootstrap version.
    public var baselines: [String: RankingMetrics]
    public var createdBy: String
    public var createdAt: Date
    /// The architecture id of its parameters (`amc`).
    public var architecture: String

    /// Creates a value from all of its fields.
    public init(
        version: Int64,
        kind: ModelVersionKind,
        parent: Int64?,
        formatVersion: Int,
        sha256: String,
        watermark: String,
        trainingWindow: TrainingWindow,
        hyperparameters: Hyperparameters,
        metrics: VersionMetrics,
        baselines: [String: RankingMetrics],
        createdBy: String,
        createdAt: Date,
        architecture: String
    ) {
        self.version = version
        self.kind = kind
        self.parent = parent
        self.formatVersion = formatVersion
        self.sha256 = sha256
        self.watermark = watermark
        self.trainingWindow = trainingWindow
        self.hyperparameters = hyperparameters
        self.metrics = metrics
        self.baselines = baselines
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.architecture = architecture
    }
}

/// One row of `model_activations`.
public struct ModelActivation: Sendable, Hashable {
    public var id: Int64
    public var version: Int64
    public var previousVersion: Int64?
    public var actor: String
    public var reason: String
    public var activatedAt: Date

    /// Creates a value from all of its fields.
    public init(
        id: Int64,
        version: Int64,
        previousVersion: Int64?,
        actor: String,
        reason: String,
        activatedAt: Date
    ) {
        self.id = id
        self.version = version
        self.previousVersion = previousVersion
        self.actor = actor
        self.reason = reason
        self.activatedAt = activatedAt
    }
}

/// JSON for the registry's `jsonb` columns: snake_case keys, sorted, so stored documents are stable.
public enum RegistryJSON {
    /// The JSON text of `value`.
    /// - Parameter value: What to encode.
    /// - Returns: Compact JSON with snake_case keys, sorted; non-finite floats as strings.
    public static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity",
            negativeInfinity: "-Infinity",
            nan: "NaN"
        )
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Decodes a `jsonb` column's text (`null` when the column is NULL).
    /// - Parameters:
    ///   - type: The type to decode.
    ///   - text: The column's text.
    /// - Returns: The decoded value.
    public static func decode<T: Decodable>(_ type: T.Type, from text: String?) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity",
            negativeInfinity: "-Infinity",
            nan: "NaN"
        )
        return try decoder.decode(type, from: Data((text ?? "null").utf8))
    }
}

/// A version's model as ``ModelRegistry/model(of:held:)`` built it.
public struct LoadedModel: Sendable {
    /// The model.
    public var model: any ScoringModel
    /// The hex SHA-256 of the held model it was built on, if any.
    public var base: String?
    /// The tensors read from the registry that differ from the held model's, when the model is the held one with a
    /// stored part applied; nil when it was built from full parameters (every tensor is new).
    public var changedTensors: [NamedTensor]?

    /// Whether every tensor that is not the held model's is finite (the held model was checked when it was loaded).
    public var isFinite: Bool {
        guard let changedTensors else { return model.isFinite }
        return changedTensors.allSatisfy { $0.values.allSatisfy(\.isFinite) }
    }
}
