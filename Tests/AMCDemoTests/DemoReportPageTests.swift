import Evaluation
import Foundation
import Learning
import Testing

@testable import AMCDemo

/// The demo's HTML report rendered from known inputs.
@Suite struct DemoReportPageTests {
    @Test func everyChartIsAnInlineSVG() throws {
        let page = try DemoReportFixture.report().html()
        #expect(DemoReportFixture.charts(in: page) == DemoReportFixture.expectedCharts)
        #expect(page.contains("<section id=\"attention-maps\">"))
        #expect(page.contains("β<sub>v</sub> 0.800, β<sub>k</sub> 0.200"))
        // NDCG@5 over the versions: a point per version and label set, at its value, with the publish times.
        #expect(page.contains(">0.700</text>") && page.contains(">0.680</text>") && page.contains(">0.650</text>"))
        #expect(page.contains(">v2 finetune</text>") && page.contains(">+42.5 s</text>"))
        // ROC: a curve per method, the legend with the table's AUC.
        #expect(page.components(separatedBy: "<polyline class=\"curve\"").count - 1 == 3 + 2 + 2 + 2)
        #expect(page.contains("AMC (attention) (AUC 0.800)"))
    }

    @Test func regionAttentionIsAHeatMapBesideTheTopKeywords() throws {
        let page = try DemoReportFixture.report().html()
        // The largest weight is the darkest cell; the others are lighter in proportion.
        #expect(page.contains("fill=\"rgb(255,55,25)\" stroke=\"#fff\"><title>α 0.600</title>"))
        #expect(page.contains("fill=\"rgb(255,221,216)\" stroke=\"#fff\"><title>α 0.100</title>"))
        #expect(page.contains("<tr><td>red &lt;car&gt;</td><td>0.250</td></tr>"))
        #expect(!page.contains("<div class=\"placeholder\">"))
    }

    @Test func anExampleWithoutRegionAttentionIsAPlaceholderNotAChart() throws {
        var report = try DemoReportFixture.report()
        report.attention[1].regionAttention = nil
        let page = report.html()
        #expect(DemoReportFixture.charts(in: page) == DemoReportFixture.expectedCharts.dropLast())
        #expect(page.components(separatedBy: "<div class=\"placeholder\">").count - 1 == 1)
    }

    /// The architectures' comparison: a bar per architecture's version and per baseline, and the table with the
    /// scoring cost and training speeds, naming the version served.
    @Test func theComparisonOfEveryArchitectureIsABarChartAndATable() throws {
        let page = try DemoReportFixture.report().html()
        #expect(page.contains("<h2>Every architecture on the held-out labels</h2>"))
        #expect(page.contains("the demo serves the best by NDCG@5, version 3 (late fusion (learned gate))"))
        #expect(page.contains(">late fusion (learned gate) v3</text>") && page.contains(">0.720</text>"))
        #expect(page.contains(">AMC (attention) v1</text>") && page.contains(">late fusion 0.5/0.5</text>"))
        #expect(page.contains("<th>µs / candidate</th><th>bootstrap pairs/s</th><th>fine-tune pairs/s</th>"))
        #expect(page.contains("<td>late fusion (learned gate)</td><td>v3</td><td>0.7200</td>"))
        #expect(page.contains("<td>1.25</td><td>5200</td><td>–</td></tr>"))
        #expect(page.contains("<td>click prior</td><td>–</td>"))
        let text = try DemoReportFixture.report().render()
        #expect(text.contains("served: version 3 (late_fusion), the best NDCG@5"), "\(text)")
    }

    @Test func thePageHoldsEveryEvaluationAndEscapesText() throws {
        let page = try DemoReportFixture.report().html()
        #expect(page.hasPrefix("<!doctype html>"))
        #expect(page.contains("<h2>Version 1, original labels</h2>"))
        #expect(page.contains("<h2>Version 2, shifted labels</h2>"))
        #expect(page.contains("<td>AMC (attention)</td><td>0.7000</td>"))
        #expect(page.contains("<td>click prior</td><td>0.5000</td>"))
        #expect(page.contains("a world &lt;with&gt; &amp; &quot;quotes&quot;"))
        #expect(!page.contains("<with>"))
        #expect(page.contains("1 → 2 (learner): answered by the new version after 120 ms"))
        #expect(page.contains("2 → 1 (rollback): answered by the new version after not seen within 10 s"))
        // No scripts and nothing fetched from elsewhere: the page works offline.
        #expect(!page.contains("<script"))
        #expect(!page.contains("http://") || !page.contains("src=\"http"))
    }
}

/// A demo report with known figures.
enum DemoReportFixture {
    /// The charts of the fixture's page.
    static let expectedCharts = [
        "ndcg5-by-architecture", "ndcg5-by-method", "ndcg5-over-versions", "roc-v1-original", "roc-v1-shifted",
        "roc-v2-original",
        "roc-v2-shifted", "modality-attention", "attention-1", "attention-2",
    ]

    /// The `data-chart` names of the page's `<svg class="chart">` elements, in order.
    static func charts(in html: String) -> [String] {
        html.components(separatedBy: "<svg class=\"chart\" data-chart=\"").dropFirst().map {
            String($0.prefix { $0 != "\"" })
        }
    }

    /// An evaluation row (its initialiser is the evaluator's; rows travel as JSON, so one is decoded).
    static func row(_ method: String, ndcg5: Double, auc: Double = 0.8) throws -> EvaluationRow {
        struct Row: Encodable {
            var method: String
            var metrics: RankingMetrics
        }
        let row = Row(method: method, metrics: RankingMetrics(ndcg5: ndcg5, auc: auc, queries: 10))
        return try JSONDecoder().decode(EvaluationRow.self, from: JSONEncoder().encode(row))
    }

    static func report() throws -> DemoLearning.Report {
        var report = DemoLearning.Report(
            world: "a world <with> & \"quotes\"",
            clicks: 1000,
            shiftedClicks: 300,
            bootstrap: .noNewPairs(changedPairs: 0),
            fineTune: .noNewPairs(changedPairs: 0)
        )
        var amc = try row("amc", ndcg5: 0.7)
        (amc.version, amc.scoringMicrosecondsPerCandidate, amc.bootstrapPairsPerSecond) = (1, 3.5, 1800)
        var lateFusion = try row("late_fusion", ndcg5: 0.72)
        (lateFusion.version, lateFusion.scoringMicrosecondsPerCandidate) = (3, 1.25)
        lateFusion.bootstrapPairsPerSecond = 5200
        report.comparison = EvaluationReport(
            version: 1,
            labelledQueries: 20,
            unknownImages: 0,
            rows: [amc, lateFusion, try row("click_prior", ndcg5: 0.5), try row("late_fusion_fixed", ndcg5: 0.66)]
        )
        report.best = ("late_fusion", 3)
        report.evaluations = [
            .init(
                version: 1,
                labels: "original",
                rows: [
                    try row("amc", ndcg5: 0.7), try row("click_prior", ndcg5: 0.5), try row("late_fusion", ndcg5: 0.6),
                ]
            ),
            .init(
                version: 1,
                labels: "shifted",
                rows: [try row("amc", ndcg5: 0.55), try row("click_prior", ndcg5: 0.45)]
            ),
            .init(
                version: 2,
                labels: "shifted",
                rows: [try row("amc", ndcg5: 0.65), try row("click_prior", ndcg5: 0.45)]
            ),
        ]
        report.weights = [
            .init(version: 1, visualIntent: 0.8, textualIntent: 0.3, shiftedConcepts: 0.7),
            .init(version: 2, visualIntent: 0.75, textualIntent: 0.3, shiftedConcepts: 0.4),
        ]
        report.evaluations.insert(
            .init(
                version: 2,
                labels: "original",
                rows: [try row("amc", ndcg5: 0.68), try row("click_prior", ndcg5: 0.5)]
            ),
            at: 2
        )
        // Curves from scores, as the demo computes them: a better method ranks the relevant images higher.
        let labels = (0..<20).map { index in
            JudgedQuery(
                query: "query \(index)",
                images: (0..<10).map { "image \($0)" },
                gains: (0..<10).map { $0 % 3 == 0 ? 2 : 0 }
            )
        }
        for index in report.evaluations.indices {
            report.evaluations[index].curves = report.evaluations[index].rows.enumerated().map { rank, row in
                let skill = row.metrics.ndcg5
                let curve = Evaluator.rocCurve(labels) { query in
                    query.gains.enumerated().map { image, gain in
                        Double(gain) * skill * 0.25 + Double((image * 7 + rank * 3 + query.query.count) % 10) / 10
                    }
                }
                return (method: row.method, curve: curve)
            }
        }
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        report.versions = [
            .init(version: 1, kind: "bootstrap", createdAt: start),
            .init(version: 2, kind: "finetune", createdAt: start.addingTimeInterval(42.5)),
        ]
        report.attention = [
            .init(
                intent: "visual intent",
                query: "red sports car",
                image: "img-1",
                version: 2,
                visualWeight: 0.8,
                keywordWeight: 0.2,
                regionAttention: (rows: 2, columns: 2, weights: [0.1, 0.6, 0.2, 0.1]),
                topKeywords: [("sports car", 0.5), ("red <car>", 0.25)]
            ),
            .init(
                intent: "textual intent",
                query: "eiffel tower",
                image: "img-2",
                version: 2,
                visualWeight: 0.3,
                keywordWeight: 0.7,
                regionAttention: (rows: 1, columns: 3, weights: [0.2, 0.3, 0.5]),
                topKeywords: [("tower", 0.9)]
            ),
        ]
        report.requests = 500
        report.failedRequests = 0
        report.versionRuns = [1, 2, 1, 2]
        report.swaps = [("1 → 2 (learner)", .milliseconds(120)), ("2 → 1 (rollback)", nil)]
        return report
    }
}
