import ArgumentParser
import ClickLog
import Evaluation
import Foundation
import Learning
import Logging
import Postgres
import Registry

extension AMC {
    /// `amc eval`: the model and the baselines on graded labels, one row each (the AMC paper's Tables 1–2).
    struct Eval: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate a model version and the baselines on graded labels (NDCG@5…25, P@5, MAP, MRR, AUC)."
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Labels file: query \\t image_key \\t Excellent|Good|Bad (Clickture DevSetLabel form).")
        var labels: String

        @Option(help: "Model version to evaluate. Default: the active version.")
        var version: Int?

        @Flag(help: "Print one JSON object instead of a table.")
        var json = false

        func validate() throws {
            if let version, version < 1 { throw ValidationError("--version must be at least 1, got \(version)") }
        }

        func run() async throws {
            let settings = try await options.resolve()
            let bytes: [UInt8]
            do {
                bytes = Array(try Data(contentsOf: URL(fileURLWithPath: labels)))
            } catch {
                throw CommandError("cannot read labels file \(labels): \(error.localizedDescription)")
            }
            // Bytes, not a String: a line that is not UTF-8 is rejected on its own, the others are kept.
            let file = LabelFile(parsing: bytes, normalizeQuery: { QueryNormalizer.normalize($0) })
            for rejected in file.rejected.prefix(20) {
                let reason = TerminalText.escaped(rejected.reason)
                FileHandle.standardError.write(Data("\(labels):\(rejected.line): \(reason)\n".utf8))
            }
            if file.rejected.count > 20 {
                FileHandle.standardError.write(Data("… \(file.rejected.count - 20) more rejected lines\n".utf8))
            }
            guard !file.queries.isEmpty else { throw CommandError("\(labels) holds no usable labels") }
            let url = try settings.databaseURL()
            let requested = version.map(Int64.init)
            let logger = Logger(label: "amc.eval")
            let report = try await onBlockingThread {
                let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
                defer { connection.close() }
                do {
                    return try OfflineEvaluator(connection: connection).evaluate(
                        labels: file.queries,
                        version: requested
                    )
                } catch let error where error is LearnerError || error is RegistryError {
                    throw CommandError("\(error)")
                }
            }
            print(json ? try EvaluationTable.json(report) : EvaluationTable.text(report))
        }
    }
}

/// Renders an ``EvaluationReport``.
enum EvaluationTable {
    static let names = [
        "amc": "AMC (attention)", "click_prior": "click prior", "keyword_only": "keyword only",
        "image_only": "image only", "late_fusion": "late fusion 0.5/0.5",
    ]

    static func text(_ report: EvaluationReport) -> String {
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

    /// The header and one line per method.
    static func table(_ rows: [EvaluationRow]) -> [String] {
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

    static func json(_ report: EvaluationReport) throws -> String {
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
