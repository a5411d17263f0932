import CommandSupport
import Evaluation
import Foundation
import Learning
import Registry

extension DemoLearning.Report {
    /// The readable text report.
    func render() -> String {
        var out = "\n== learning ==\nworld                  \(world)\n"
        out += "clicks                 \(clicks) before the shift, \(shiftedClicks) from simulated users after it\n"
        if let comparison {
            out += "\n-- every architecture on the original labels (amc eval --all-architectures) --\n"
            out += EvaluationTable.comparison(comparison) + "\n"
            if let best { out += "served: version \(best.version) (\(best.method)), the best NDCG@5\n" }
        }
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
            out += "  before, version \(shifted[0].version)      \(String(format: "%.4f", shifted[0].modelNDCG5))\n"
            out += "  online, version \(shifted[1].version)      \(String(format: "%.4f", shifted[1].modelNDCG5))"
            out += "   (fine-tuning the online part only, on \(shiftedClicks) new clicks)\n"
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

    /// A self-contained HTML page: NDCG@5 by method and over the versions, ROC curves of every method, modality
    /// attention, attention maps of example queries, the evaluation tables, the live traffic and the activations.
    /// Charts are inline SVG (``DemoReportCharts``): no scripts, nothing fetched.
    func html() -> String {
        var body = "<h1>amc-stream demo</h1><p>\(escape(world)); \(clicks) clicks, then \(shiftedClicks) "
        body += "from simulated users on the served rankings after some visual concepts' queries turned to their "
        body += "tags.</p>"
        body += architecturesSection()
        body += "<h2>NDCG@5 by method and model version</h2>"
        var bars: [(String, Double)] = []
        for evaluation in evaluations {
            for row in evaluation.rows {
                bars.append(("v\(evaluation.version) \(evaluation.labels) · \(row.method)", row.metrics.ndcg5))
            }
        }
        body += DemoReportCharts.barChart(bars, maximum: 1, name: "ndcg5-by-method")
        body += versionsSection()
        body += rocSection()
        body += "<h2>Modality attention: mean visual weight β<sub>v</sub></h2>"
        var weightBars: [(String, Double)] = []
        for w in weights {
            weightBars += [
                ("v\(w.version) visual-intent queries", w.visualIntent),
                ("v\(w.version) textual-intent queries", w.textualIntent),
                ("v\(w.version) concepts that shifted", w.shiftedConcepts),
            ]
        }
        body += DemoReportCharts.barChart(weightBars, maximum: 1, name: "modality-attention")
        body += attentionSection()
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
            body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;color:#222}
            table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}
            td:first-child,th:first-child{text-align:left}
            .example{display:flex;gap:1.5rem;align-items:flex-start;margin:1rem 0}
            .charts{display:flex;flex-wrap:wrap;column-gap:1rem}
            .placeholder{border:1px dashed #999;color:#666;padding:.5rem;width:12rem;height:8rem}
            </style></head><body>\(body)</body></html>
            """
    }

    /// Every architecture's bootstrap beside the baselines on the original labels: a bar chart of NDCG@5 and the
    /// comparison table (`amc eval --all-architectures`), with the version served.
    private func architecturesSection() -> String {
        guard let comparison else { return "" }
        var html = "<h2>Every architecture on the held-out labels</h2><p>Each architecture bootstrapped on the same "
        html += "clicks with the same budget, and the baselines, on the original labels"
        if let best {
            html += "; the demo serves the best by NDCG@5, version \(best.version) "
            html += "(\(escape(EvaluationTable.names[best.method] ?? best.method)))"
        }
        html += ".</p>"
        let bars = comparison.rows.map { row in
            (
                label: (EvaluationTable.names[row.method] ?? row.method) + (row.version.map { " v\($0)" } ?? ""),
                value: row.metrics.ndcg5
            )
        }
        html += DemoReportCharts.barChart(bars, maximum: 1, name: "ndcg5-by-architecture")
        html += "<table><tr><th>method</th><th>version</th>"
        html +=
            [
                "NDCG@5", "NDCG@10", "NDCG@15", "NDCG@20", "NDCG@25", "P@5", "MAP", "MRR", "AUC", "µs / candidate",
                "bootstrap pairs/s", "fine-tune pairs/s",
            ]
            .map { "<th>\($0)</th>" }.joined() + "</tr>"
        func cell(_ value: Double?, _ format: String) -> String {
            "<td>\(value.map { String(format: format, $0) } ?? "–")</td>"
        }
        for row in comparison.rows {
            let m = row.metrics
            html += "<tr><td>\(escape(EvaluationTable.names[row.method] ?? row.method))</td>"
            html += "<td>\(row.version.map { "v\($0)" } ?? "–")</td>"
            html +=
                [
                    m.ndcg5, m.ndcg10, m.ndcg15, m.ndcg20, m.ndcg25, m.precision5, m.meanAveragePrecision,
                    m.meanReciprocalRank, m.auc,
                ].map { "<td>\(String(format: "%.4f", $0))</td>" }.joined()
            html += cell(row.scoringMicrosecondsPerCandidate, "%.2f") + cell(row.bootstrapPairsPerSecond, "%.0f")
            html += cell(row.fineTunePairsPerSecond, "%.0f") + "</tr>"
        }
        return html + "</table>"
    }

    /// NDCG@5 of the model of each published version, oldest first, on each label set.
    private func versionsSection() -> String {
        guard let first = versions.first else { return "" }
        var html = "<h2>NDCG@5 of each version over time</h2><p>The model of every version the demo published, "
        html += "in order, on the held-out queries' original and shifted labels.</p>"
        let labelSets = evaluations.reduce(into: [String]()) { if !$0.contains($1.labels) { $0.append($1.labels) } }
        let series = labelSets.map { labels in
            (
                name: "the model, \(labels) labels",
                values: versions.map { version in
                    evaluations.first { $0.version == version.version && $0.labels == labels }?.modelNDCG5
                }
            )
        }
        let xLabels = versions.map {
            (
                title: "v\($0.version) \($0.kind)",
                detail: String(format: "+%.1f s", $0.createdAt.timeIntervalSince(first.createdAt))
            )
        }
        return html + DemoReportCharts.lineChart(series, xLabels: xLabels, name: "ndcg5-over-versions")
    }

    /// One ROC chart per evaluation, a curve per method.
    private func rocSection() -> String {
        var html = "<h2>ROC curves</h2><p>Every method's mean per-query ROC curve, from the scores its AUC is "
        html += "computed from; the legend gives the AUC of the table below.</p>"
        html += "<div class=\"charts\">"
        for evaluation in evaluations where !evaluation.curves.isEmpty {
            html += "<div><h3>Version \(evaluation.version), \(evaluation.labels) labels</h3>"
            let curves = evaluation.curves.map { entry in
                (
                    name: EvaluationTable.names[entry.method] ?? entry.method,
                    auc: evaluation.rows.first { $0.method == entry.method }?.metrics.auc ?? entry.curve.area,
                    points: entry.curve.points.map { (x: $0.falsePositiveRate, y: $0.truePositiveRate) }
                )
            }
            html += DemoReportCharts.rocChart(curves, name: "roc-v\(evaluation.version)-\(evaluation.labels)")
            html += "</div>"
        }
        return html + "</div>"
    }

    /// Example queries of each intent: the grid's region attention as a heat map beside the top keywords and β, as
    /// in the AMC authors' visualisation; a placeholder (not a chart) where an example has no region attention (no regions, or an
    /// architecture without it).
    private func attentionSection() -> String {
        var html = "<section id=\"attention-maps\"><h2>Attention maps</h2>"
        html += "<p>For an example query of each intent, its best-scored relevant image: where the query attends on "
        html += "the image's region grid (α), the keywords it attends to most (λ), and the modality attention β.</p>"
        for (index, example) in attention.enumerated() {
            html += "<div class=\"example\"><div><h3>\(escape(example.intent))</h3><p>“\(escape(example.query))” → "
            html += "\(escape(example.image)) (version \(example.version))</p>"
            html += "<p>β<sub>v</sub> \(String(format: "%.3f", example.visualWeight)), β<sub>k</sub> "
            html += "\(String(format: "%.3f", example.keywordWeight))</p></div>"
            if let grid = example.regionAttention {
                html += DemoReportCharts.heatMap(
                    rows: grid.rows,
                    columns: grid.columns,
                    weights: grid.weights,
                    name: "attention-\(index + 1)"
                )
            } else {
                html += "<div class=\"placeholder\">No region attention: the image has no region grid, or the served "
                html += "architecture does not attend over regions.</div>"
            }
            if !example.topKeywords.isEmpty {
                html += "<table><tr><th>keyword</th><th>λ</th></tr>"
                for keyword in example.topKeywords {
                    html +=
                        "<tr><td>\(escape(keyword.keyword))</td><td>\(String(format: "%.3f", keyword.weight))</td></tr>"
                }
                html += "</table>"
            }
            html += "</div>"
        }
        if attention.isEmpty { html += "<p>No example queries were explained in this run.</p>" }
        return html + "</section>"
    }

    private func escape(_ text: String) -> String {
        DemoReportCharts.escape(text)
    }
}
