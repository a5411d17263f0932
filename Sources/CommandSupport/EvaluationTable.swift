import Evaluation
import Foundation
import Learning

/// Renders an ``EvaluationReport``.
public enum EvaluationTable {
    /// Display names of the methods an evaluation reports, by their stored name.
    public static let names = [
        "amc": "AMC (attention)", "click_prior": "click prior", "keyword_only": "keyword only",
        "image_only": "image only", "late_fusion": "late fusion (learned gate)",
        "late_fusion_fixed": "late fusion 0.5/0.5", "casc": "CASC (cross attention)",
        "ams": "AMS (multiscale matching)", "caan": "CAAN (context-aware attention)",
    ]

    /// The report as `amc eval` prints it: a summary line and the table.
    public static func text(_ report: EvaluationReport) -> String {
        var lines = [
            "model version \(report.version) on \(report.rows.first?.metrics.queries ?? 0) judged queries "
                + "(\(report.labelledQueries) labelled, \(report.unknownImages) labelled images not in the catalog)"
        ]
        lines += table(report.rows)
        if !report.rows.contains(where: { $0.method == "image_only" }) {
            lines.append(
                "(no single-modality baselines in this version's lineage: bootstrap with baselines to add them)"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// The comparison `amc eval --all-architectures` prints: a summary line, then one line per version (the active
    /// one first) and per baseline, with the metrics, the version, its scoring cost and its lineage's training
    /// speeds (`—` where a row has none).
    public static func comparison(_ report: EvaluationReport) -> String {
        let metricNames = ["NDCG@5", "NDCG@10", "NDCG@15", "NDCG@20", "NDCG@25", "P@5", "MAP", "MRR", "AUC"]
        var lines = [
            "model version \(report.version) (active) and the latest version of every other architecture on "
                + "\(report.rows.first?.metrics.queries ?? 0) judged queries (\(report.labelledQueries) labelled, "
                + "\(report.unknownImages) labelled images not in the catalog)",
            pad("method", 28) + pad("version", 8, left: true) + metricNames.map { pad($0, 8, left: true) }.joined()
                + pad("µs/cand", 9, left: true) + pad("boot pairs/s", 13, left: true)
                + pad("tune pairs/s", 13, left: true),
        ]
        func number(_ value: Double?, _ format: String) -> String {
            value.map { String(format: format, $0) } ?? "—"
        }
        for row in report.rows {
            let m = row.metrics
            let values = [
                m.ndcg5, m.ndcg10, m.ndcg15, m.ndcg20, m.ndcg25, m.precision5, m.meanAveragePrecision,
                m.meanReciprocalRank, m.auc,
            ]
            lines.append(
                pad(names[row.method] ?? row.method, 28)
                    + pad(row.version.map { "v\($0)" } ?? "—", 8, left: true)
                    + values.map { pad(String(format: "%.4f", $0), 8, left: true) }.joined()
                    + pad(number(row.scoringMicrosecondsPerCandidate, "%.2f"), 9, left: true)
                    + pad(number(row.bootstrapPairsPerSecond, "%.0f"), 13, left: true)
                    + pad(number(row.fineTunePairsPerSecond, "%.0f"), 13, left: true)
            )
        }
        return lines.joined(separator: "\n")
    }

    /// The header and one line per method.
    public static func table(_ rows: [EvaluationRow]) -> [String] {
        var lines = [
            pad("method", 20)
                + ["NDCG@5", "NDCG@10", "NDCG@15", "NDCG@20", "NDCG@25", "P@5", "MAP", "MRR", "AUC"]
                .map { pad($0, 8, left: true) }.joined()
        ]
        for row in rows {
            let m = row.metrics
            let values = [
                m.ndcg5, m.ndcg10, m.ndcg15, m.ndcg20, m.ndcg25, m.precision5, m.meanAveragePrecision,
                m.meanReciprocalRank, m.auc,
            ]
            lines.append(
                pad(names[row.method] ?? row.method, 20)
                    + values.map { pad(String(format: "%.4f", $0), 8, left: true) }.joined()
            )
        }
        return lines
    }

    /// The report as one line of JSON (snake_case keys, sorted).
    public static func json(_ report: EvaluationReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    private static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return left ? padding + text : text + padding
    }
}
