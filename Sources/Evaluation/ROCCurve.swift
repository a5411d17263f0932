/// One point of a receiver operating characteristic curve.
public struct ROCPoint: Sendable, Hashable, Codable {
    /// Share of the irrelevant images scored at or above the threshold.
    public var falsePositiveRate: Double
    /// Share of the relevant images scored at or above the threshold.
    public var truePositiveRate: Double

    /// A point at (`falsePositiveRate`, `truePositiveRate`).
    public init(falsePositiveRate: Double, truePositiveRate: Double) {
        self.falsePositiveRate = falsePositiveRate
        self.truePositiveRate = truePositiveRate
    }
}

/// The ROC curve of a scoring method over labelled queries: the per-query curves, averaged vertically (mean true
/// positive rate at each false positive rate), so its area is the mean per-query AUC that ``RankingMetrics/auc``
/// reports (up to the sampling of the false positive rates).
public struct ROCCurve: Sendable, Hashable, Codable {
    /// From (0, 0) to (1, 1), false positive rates evenly spaced and ascending.
    public var points: [ROCPoint]
    /// Queries averaged: those with at least one relevant and one irrelevant image (as for AUC).
    public var queries: Int

    /// The area under ``points`` (trapezoids).
    public var area: Double {
        zip(points, points.dropFirst()).reduce(0) { total, pair in
            total + (pair.1.falsePositiveRate - pair.0.falsePositiveRate)
                * (pair.0.truePositiveRate + pair.1.truePositiveRate) / 2
        }
    }
}

extension Evaluator {
    /// The mean ROC curve of `scores` over `queries`, from the scores ``evaluate(_:scores:)`` computes AUC from.
    ///
    /// Each query's curve steps through its images from the highest score down; images with equal scores form
    /// one diagonal segment (so its area is that query's AUC with ties counting ½), and non-finite scores count
    /// as the lowest score. The curves are sampled at `resolution + 1` evenly spaced false positive rates (at a
    /// vertical step, its top) and averaged.
    /// - Parameters:
    ///   - queries: The labelled queries; those without both a relevant and an irrelevant image are skipped.
    ///   - resolution: Intervals between the sampled false positive rates.
    ///   - scores: The score of each of a query's images, in the order of ``JudgedQuery/images``.
    /// - Returns: The averaged curve; the diagonal, with `queries` 0, when no query counts.
    public static func rocCurve(
        _ queries: [JudgedQuery],
        resolution: Int = 100,
        scores: (JudgedQuery) -> [Double]
    ) -> ROCCurve {
        let resolution = max(1, resolution)
        let rates = (0...resolution).map { Double($0) / Double(resolution) }
        var sums = [Double](repeating: 0, count: rates.count)
        var counted = 0
        for query in queries {
            let gains = query.gains.map { max(0, $0) }
            guard gains.contains(where: { $0 > 0 }), gains.contains(0) else { continue }
            let values = scores(query)
            precondition(
                values.count == query.images.count,
                "scores returned \(values.count) values for \(query.images.count) images of '\(query.query)'"
            )
            let curve = rocPoints(gains: gains, scores: values)
            for (index, rate) in rates.enumerated() { sums[index] += truePositiveRate(of: curve, at: rate) }
            counted += 1
        }
        guard counted > 0 else {
            return ROCCurve(points: rates.map { ROCPoint(falsePositiveRate: $0, truePositiveRate: $0) }, queries: 0)
        }
        return ROCCurve(
            points: zip(rates, sums).map { ROCPoint(falsePositiveRate: $0, truePositiveRate: $1 / Double(counted)) },
            queries: counted
        )
    }

    /// One query's exact ROC curve (a vertex per distinct score), for a query with relevant and irrelevant images.
    static func rocPoints(gains: [Int], scores: [Double]) -> [ROCPoint] {
        let values = scores.map { $0.isFinite ? $0 : -.infinity }
        let order = values.indices.sorted { values[$0] > values[$1] }
        let positives = Double(gains.count { $0 > 0 })
        let negatives = Double(gains.count) - positives
        var points = [ROCPoint(falsePositiveRate: 0, truePositiveRate: 0)]
        var (truePositives, falsePositives) = (0.0, 0.0)
        var index = 0
        while index < order.count {
            let score = values[order[index]]
            while index < order.count, values[order[index]] == score {
                if gains[order[index]] > 0 { truePositives += 1 } else { falsePositives += 1 }
                index += 1
            }
            points.append(
                ROCPoint(falsePositiveRate: falsePositives / negatives, truePositiveRate: truePositives / positives)
            )
        }
        return points
    }

    /// The curve's true positive rate at `rate`: linear between vertices, the top of a vertical step.
    static func truePositiveRate(of curve: [ROCPoint], at rate: Double) -> Double {
        var best = 0.0
        for (from, to) in zip(curve, curve.dropFirst()) where from.falsePositiveRate <= rate {
            if to.falsePositiveRate <= rate {
                best = max(best, to.truePositiveRate)
            } else {
                let share = (rate - from.falsePositiveRate) / (to.falsePositiveRate - from.falsePositiveRate)
                best = max(best, from.truePositiveRate + share * (to.truePositiveRate - from.truePositiveRate))
            }
        }
        return best
    }
}
