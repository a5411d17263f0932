import Evaluation
import Foundation
import Learning
import Testing

@testable import AMCDemo

/// The demo's HTML report rendered from known inputs.
@Suite struct DemoReportPageTests {
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
        report.requests = 500
        report.failedRequests = 0
        report.versionRuns = [1, 2, 1, 2]
        report.swaps = [("1 → 2 (learner)", .milliseconds(120)), ("2 → 1 (rollback)", nil)]
        return report
    }
}
