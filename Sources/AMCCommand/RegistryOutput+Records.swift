import CommandSupport
import Evaluation
import Foundation
import Learning
import Registry

/// The registry records `amc model` and `amc audit` print, as JSON for machines and as text for people.
extension RegistryOutput {
    /// A version in `amc model list --json` (design §4: version, sha256, parent, created_at, metrics, active; and its
    /// architecture).
    struct VersionSummary: Encodable {
        var version: Int64
        var architecture: String
        var kind: String
        var sha256: String
        var parent: Int64?
        var createdAt: Date
        var createdBy: String
        var metrics: VersionMetrics
        var active: Bool

        init(_ version: ModelVersion, active: Int64?) {
            self.version = version.version
            architecture = version.architecture
            kind = version.kind.rawValue
            sha256 = version.sha256
            parent = version.parent
            createdAt = version.createdAt
            createdBy = version.createdBy
            metrics = version.metrics
            self.active = version.version == active
        }

        private enum CodingKeys: String, CodingKey {
            case version, architecture, kind, sha256, parent, createdAt, createdBy, metrics, active
        }

        /// Like the synthesized encoding, but `parent` is always present (`null` for a bootstrap version).
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(version, forKey: .version)
            try c.encode(architecture, forKey: .architecture)
            try c.encode(kind, forKey: .kind)
            try c.encode(sha256, forKey: .sha256)
            try c.encode(parent, forKey: .parent)
            try c.encode(createdAt, forKey: .createdAt)
            try c.encode(createdBy, forKey: .createdBy)
            try c.encode(metrics, forKey: .metrics)
            try c.encode(active, forKey: .active)
        }
    }

    /// A version in `amc model show` and `amc audit version`: everything recorded about it.
    struct VersionDetail: Encodable {
        var version: Int64
        var architecture: String
        var kind: String
        var sha256: String
        var formatVersion: Int
        var parent: Int64?
        var lineage: [Int64]
        var createdAt: Date
        var createdBy: String
        var watermark: String
        var trainingWindow: TrainingWindow
        var hyperparameters: Hyperparameters
        var metrics: VersionMetrics
        var baselines: [String: RankingMetrics]
        var active: Bool
        var activations: [ActivationRecord]
        /// Its online experiments as a candidate (`amc model show` only; left out when nil).
        var experiments: [ExperimentRecord]?

        init(_ version: ModelVersion, active: Int64?, activations: [ModelActivation], lineage: [Int64] = []) {
            self.version = version.version
            architecture = version.architecture
            kind = version.kind.rawValue
            sha256 = version.sha256
            formatVersion = version.formatVersion
            parent = version.parent
            self.lineage = lineage
            createdAt = version.createdAt
            createdBy = version.createdBy
            watermark = version.watermark
            trainingWindow = version.trainingWindow
            hyperparameters = version.hyperparameters
            metrics = version.metrics
            baselines = version.baselines
            self.active = version.version == active
            self.activations = activations.map(ActivationRecord.init)
        }

        private enum CodingKeys: String, CodingKey {
            case version, architecture, kind, sha256, formatVersion, parent, lineage, createdAt, createdBy, watermark
            case trainingWindow, hyperparameters, metrics, baselines, active, activations, experiments
        }

        /// Like the synthesized encoding, but `parent` is always present (`null` for a bootstrap version).
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(version, forKey: .version)
            try c.encode(architecture, forKey: .architecture)
            try c.encode(kind, forKey: .kind)
            try c.encode(sha256, forKey: .sha256)
            try c.encode(formatVersion, forKey: .formatVersion)
            try c.encode(parent, forKey: .parent)
            try c.encode(lineage, forKey: .lineage)
            try c.encode(createdAt, forKey: .createdAt)
            try c.encode(createdBy, forKey: .createdBy)
            try c.encode(watermark, forKey: .watermark)
            try c.encode(trainingWindow, forKey: .trainingWindow)
            try c.encode(hyperparameters, forKey: .hyperparameters)
            try c.encode(metrics, forKey: .metrics)
            try c.encode(baselines, forKey: .baselines)
            try c.encode(active, forKey: .active)
            try c.encode(activations, forKey: .activations)
            try c.encodeIfPresent(experiments, forKey: .experiments)
        }
    }

    /// One activation.
    struct ActivationRecord: Encodable {
        var id: Int64
        var version: Int64
        var previousVersion: Int64?
        var actor: String
        var reason: String
        var activatedAt: Date

        init(_ activation: ModelActivation) {
            id = activation.id
            version = activation.version
            previousVersion = activation.previousVersion
            actor = activation.actor
            reason = activation.reason
            activatedAt = activation.activatedAt
        }

        private enum CodingKeys: String, CodingKey {
            case id, version, previousVersion, actor, reason, activatedAt
        }

        /// `previous_version` is always present (`null` for the first activation).
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(version, forKey: .version)
            try c.encode(previousVersion, forKey: .previousVersion)
            try c.encode(actor, forKey: .actor)
            try c.encode(reason, forKey: .reason)
            try c.encode(activatedAt, forKey: .activatedAt)
        }
    }

    static func table(_ versions: [ModelVersion], active: Int64?) -> String {
        var rows = [
            ["version", "architecture", "kind", "parent", "created", "pairs", "held-out NDCG@5", "gate", "active"]
        ]
        for v in versions {
            rows.append([
                "\(v.version)", v.architecture, v.kind.rawValue, v.parent.map { "\($0)" } ?? "-", format(v.createdAt),
                "\(v.trainingWindow.pairs)", v.metrics.gate.candidate.map { String(format: "%.4f", $0.ndcg5) } ?? "-",
                v.metrics.gate.passed ? "passed" : "refused", v.version == active ? "*" : "",
            ])
        }
        return align(rows) + (versions.isEmpty ? "\n(no versions yet: amc learn --bootstrap)" : "")
    }

    static func text(_ d: VersionDetail) -> String {
        var lines = [
            "version \(d.version) (\(d.architecture), \(d.kind))\(d.active ? ", active" : "")",
            "  sha256           \(d.sha256) (format \(d.formatVersion))",
            "  parent           \(d.parent.map { "\($0)" } ?? "none")"
                + (d.lineage.count > 1 ? "  lineage \(d.lineage.map { "\($0)" }.joined(separator: " ← "))" : ""),
            "  created          \(format(d.createdAt)) by \(d.createdBy)",
            "  watermark        \(d.watermark)",
            "  training window  \(d.trainingWindow.incremental ? "changes since the parent" : "all pairs"): "
                + "\(d.trainingWindow.pairs) pairs, \(d.trainingWindow.queries) queries, "
                + "\(d.trainingWindow.clicks) clicks, \(d.trainingWindow.heldOutPairs) held-out pairs"
                + (d.trainingWindow.firstSeen.map { ", clicks \($0) … \(d.trainingWindow.lastSeen ?? "")" } ?? ""),
            "  training         \(d.hyperparameters.scope), \(d.hyperparameters.epochs) epochs, lr "
                + "\(d.hyperparameters.learningRate), batch \(d.hyperparameters.batchSize), T \(d.hyperparameters.negatives), "
                + "seed \(d.hyperparameters.seed); loss \(String(format: "%.4f", d.metrics.training.firstEpochLoss)) → "
                + "\(String(format: "%.4f", d.metrics.training.lastEpochLoss)) in "
                + "\(String(format: "%.1f", d.metrics.training.seconds)) s",
            "  gate             \(d.metrics.gate.passed ? "passed" : "refused"): \(d.metrics.gate.reason)",
        ]
        for (name, metrics) in d.baselines.sorted(by: { $0.key < $1.key }) {
            lines.append("  baseline         \(name): held-out NDCG@5 \(String(format: "%.4f", metrics.ndcg5))")
        }
        if d.activations.isEmpty {
            lines.append("  activations      never activated")
        } else {
            for a in d.activations {
                lines.append(
                    "  activated        \(format(a.activatedAt)) by \(TerminalText.escaped(a.actor))"
                        + (a.previousVersion.map { " (replacing \($0))" } ?? "") + ": \(TerminalText.escaped(a.reason))"
                )
            }
        }
        lines += (d.experiments ?? []).map(text)
        return lines.joined(separator: "\n")
    }
}
