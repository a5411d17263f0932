import Evaluation
import Foundation
import Learning
import Registry

extension DemoLearning.Report {
    /// The readable text report.
    func render() -> String {
        var out = "\n== learning ==\nworld                  \(world)\n"
        out += "clicks                 \(clicks) before the shift, \(shiftedClicks) in the shifted stream\n"
        for evaluation in evaluations {
            out += "\n-- version \(evaluation.version) on the \(evaluation.labels) labels --\n"
            out += EvaluationTable.table(evaluation.rows).joined(separator: "\n") + "\n"
        }
        out += "\n-- modality attention: mean visual weight β_v on the held-out queries' relevant images --\n"
        for w in weights {
            out += "  version \(w.version): visual-intent queries \(String(format: "%.2f", w.visualIntent)), "
            out += "textual-intent \(String(format: "%.2f", w.textualIntent)), "
            out += "of concepts that shifted \(String(format: "%.2f", w.shiftedConcepts))\n"
        }
        let shifted = evaluations.filter { $0.labels == "shifted" }
        if shifted.count == 2 {
            out += "\n-- after the intent shift (NDCG@5 on the shifted labels) --\n"
            out += "  before, version \(shifted[0].version)      \(String(format: "%.4f", shifted[0].ndcg5("amc")))\n"
            out += "  online, version \(shifted[1].version)      \(String(format: "%.4f", shifted[1].ndcg5("amc")))"
            out += "   (MTN fine-tuning only, on \(shiftedClicks) new clicks)\n"
        }
        out += "\n-- live scoring traffic through the swaps (amc serve on loopback) --\n"
        out += "  requests \(requests), failed \(failedRequests); versions answered, in order: "
        out += versionRuns.map { "\($0)" }.joined(separator: " → ") + "\n"
        for swap in swaps {
            let delay = swap.delay.map { String(format: "%.0f ms", $0.seconds * 1000) } ?? "not seen within 10 s"
            out +=
                "  \(swap.label.padding(toLength: 28, withPad: " ", startingAt: 0)) answered by the new version after \(delay)\n"
        }
        out += "\n-- activations --\n" + RegistryOutput.activationsTable(activations) + "\n"
        out += "\n-- time --\n"
        for (step, seconds) in self.seconds {
            out +=
                "  \(step.padding(toLength: 36, withPad: " ", startingAt: 0)) \(String(format: "%6.1f", seconds)) s\n"
        }
        return out
    }

    /// A self-contained HTML page: the evaluation tables and two bar charts (inline SVG, no scripts).
    func html() -> String {
        var body = "<h1>amc-stream demo</h1><p>\(escape(world)); \(clicks) clicks, then \(shiftedClicks) "
        body += "after some visual concepts' queries turned to their tags.</p>"
        body += "<h2>NDCG@5 by method and model version</h2>"
        var bars: [(String, Double)] = []
        for evaluation in evaluations {
            for row in evaluation.rows {
                bars.append(("v\(evaluation.version) \(evaluation.labels) · \(row.method)", row.metrics.ndcg5))
            }
        }
        body += barChart(bars, maximum: 1)
        body += "<h2>Modality attention: mean visual weight β<sub>v</sub></h2>"
        var weightBars: [(String, Double)] = []
        for w in weights {
            weightBars += [
                ("v\(w.version) visual-intent queries", w.visualIntent),
                ("v\(w.version) textual-intent queries", w.textualIntent),
                ("v\(w.version) concepts that shifted", w.shiftedConcepts),
            ]
        }
        body += barChart(weightBars, maximum: 1)
        for evaluation in evaluations {
            body += "<h2>Version \(evaluation.version), \(evaluation.labels) labels</h2><table><tr><th>method</th>"
            body +=
                ["NDCG@5", "NDCG@10", "NDCG@15", "NDCG@20", "NDCG@25", "P@5", "MAP", "MRR", "AUC"]
                .map { "<th>\($0)</th>" }.joined() + "</tr>"
            for row in evaluation.rows {
                let m = row.metrics
                body += "<tr><td>\(escape(EvaluationTable.names[row.method] ?? row.method))</td>"
                body +=
                    [
                        m.ndcg5, m.ndcg10, m.ndcg15, m.ndcg20, m.ndcg25, m.precision5, m.meanAveragePrecision,
                        m.meanReciprocalRank, m.auc,
                    ].map { "<td>\(String(format: "%.4f", $0))</td>" }.joined() + "</tr>"
            }
            body += "</table>"
        }
        body += "<h2>Live scoring through the swaps</h2><p>\(requests) requests, \(failedRequests) failed; versions "
        body += "answered in order: \(versionRuns.map { "\($0)" }.joined(separator: " → ")).</p><ul>"
        for swap in swaps {
            let delay = swap.delay.map { String(format: "%.0f ms", $0.seconds * 1000) } ?? "not seen within 10 s"
            body += "<li>\(escape(swap.label)): answered by the new version after \(delay)</li>"
        }
        body += "</ul>"
        body += "<h2>Activations</h2><table><tr><th>#</th><th>version</th><th>previous</th><th>actor</th>"
        body += "<th>reason</th></tr>"
        for a in activations {
            body += "<tr><td>\(a.id)</td><td>\(a.version)</td><td>\(a.previousVersion.map { "\($0)" } ?? "–")</td>"
            body += "<td>\(escape(a.actor))</td><td>\(escape(a.reason))</td></tr>"
        }
        body += "</table>"
        return """
            <!doctype html><html><head><meta charset="utf-8"><title>amc-stream demo</title><style>
            body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}
            table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
            td:first-child,th:first-child{text-align:left}
            </style></head><body>\(body)</body></html>
            """
    }

    private func barChart(_ bars: [(label: String, value: Double)], maximum: Double) -> String {
        let rowHeight = 22
        let labelWidth = 300
        let barWidth = 400
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(labelWidth + barWidth + 60)\" "
        svg += "height=\"\(bars.count * rowHeight + 4)\" font-size=\"12\">"
        for (index, bar) in bars.enumerated() {
            let y = index * rowHeight
            let width = Int(Double(barWidth) * max(0, min(1, bar.value / maximum)))
            svg += "<text x=\"0\" y=\"\(y + 15)\">\(escape(bar.label))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(width)\" height=\"16\" fill=\"#4a7bd0\"/>"
            svg += "<text x=\"\(labelWidth + width + 4)\" y=\"\(y + 15)\">\(String(format: "%.3f", bar.value))</text>"
        }
        return svg + "</svg>"
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
