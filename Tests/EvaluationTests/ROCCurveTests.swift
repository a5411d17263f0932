import Testing

@testable import Evaluation

/// ROC curves from the same scores as AUC: exact per-query vertices, ties as diagonals, vertical averaging.
@Suite struct ROCCurveTests {
    @Test func aPerfectRankingRisesStraightUp() {
        let query = JudgedQuery(query: "q", images: ["a", "b", "c", "d"], gains: [3, 2, 0, 0])
        let curve = Evaluator.rocCurve([query], resolution: 4) { _ in [0.9, 0.8, 0.2, 0.1] }
        #expect(curve.queries == 1)
        #expect(curve.points.map(\.truePositiveRate) == [1, 1, 1, 1, 1])
        #expect(curve.points.map(\.falsePositiveRate) == [0, 0.25, 0.5, 0.75, 1])
        #expect(curve.area == 1)
    }

    @Test func verticesFollowTheScoresAndTiesAreDiagonal() {
        // Ranked: relevant 0.9, irrelevant 0.7, {relevant, irrelevant} tied at 0.5, irrelevant 0.1.
        let points = Evaluator.rocPoints(gains: [2, 0, 3, 0, 0], scores: [0.9, 0.7, 0.5, 0.5, 0.1])
        let expected: [(Double, Double)] = [(0, 0), (0, 0.5), (1.0 / 3, 0.5), (2.0 / 3, 1), (1, 1)]
        #expect(points.count == expected.count)
        for (point, (fpr, tpr)) in zip(points, expected) {
            #expect(abs(point.falsePositiveRate - fpr) < 1e-12 && abs(point.truePositiveRate - tpr) < 1e-12)
        }
        // Its area is the query's AUC, ties counting ½: 0.9 beats all three, the tied 0.5 wins ½ and beats
        // 0.1: 4.5 of 6 (relevant, irrelevant) pairs.
        let exact = zip(points, points.dropFirst()).reduce(0.0) {
            $0 + ($1.1.falsePositiveRate - $1.0.falsePositiveRate) * ($1.0.truePositiveRate + $1.1.truePositiveRate)
                / 2
        }
        #expect(abs(exact - 4.5 / 6) < 1e-12)
        #expect(abs(Evaluator.auc(gains: [2, 0, 3, 0, 0], scores: [0.9, 0.7, 0.5, 0.5, 0.1])! - 4.5 / 6) < 1e-12)
    }

    @Test func theAveragedCurvesAreaIsTheReportedAUC() {
        let queries = [
            JudgedQuery(query: "one", images: ["a", "b", "c", "d", "e"], gains: [2, 0, 3, 0, 0]),
            JudgedQuery(query: "two", images: ["a", "b", "c"], gains: [0, 0, 2]),
            JudgedQuery(query: "three", images: ["a", "b", "c", "d"], gains: [3, 0, 0, 2]),
            // No irrelevant image: no AUC, no curve.
            JudgedQuery(query: "all relevant", images: ["a", "b"], gains: [3, 3]),
            // No relevant image: skipped by every metric.
            JudgedQuery(query: "none relevant", images: ["a", "b"], gains: [0, 0]),
        ]
        let table: [String: [Double]] = [
            "one": [0.9, 0.7, 0.5, 0.5, 0.1], "two": [0.3, .nan, 0.1], "three": [0.4, 0.8, 0.2, 0.6],
            "all relevant": [1, 2], "none relevant": [1, 2],
        ]
        let curve = Evaluator.rocCurve(queries, resolution: 600) { table[$0.query]! }
        let metrics = Evaluator.evaluate(queries) { table[$0.query]! }
        #expect(curve.queries == 3)
        // At a false positive rate of 0, query one's curve is already at ½ (its top image is relevant).
        #expect(abs(curve.points[0].truePositiveRate - 0.5 / 3) < 1e-12)
        #expect(curve.points.last == ROCPoint(falsePositiveRate: 1, truePositiveRate: 1))
        #expect(zip(curve.points, curve.points.dropFirst()).allSatisfy { $0.truePositiveRate <= $1.truePositiveRate })
        // The samples land on every vertex here (thirds and halves); a vertical step costs at most half a sampling
        // interval of area, so the areas agree within one interval.
        #expect(abs(curve.area - metrics.auc) <= 1.0 / 600)
    }

    @Test func noQueryWithBothKindsGivesTheDiagonal() {
        let query = JudgedQuery(query: "q", images: ["a"], gains: [3])
        let curve = Evaluator.rocCurve([query], resolution: 2) { _ in [1] }
        #expect(curve.queries == 0)
        #expect(curve.points == [0, 0.5, 1].map { ROCPoint(falsePositiveRate: $0, truePositiveRate: $0) })
    }
}
