#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Ranks labelled queries by a scoring function and computes the AMC paper's metrics (Clickture): NDCG@{5,10,15,
/// 20,25}, P@5, MAP, MRR and AUC. Pure computation, no I/O. Definitions are in `Docs/evaluation.md`.
public enum Evaluator {
    /// Ranks each query's images by `scores` (higher first) and averages the metrics over the queries.
    ///
    /// - Equal scores are ordered by a deterministic pseudo-random key of (query, image) (see
    ///   ``tieBreakKey(query:image:)``), never by input order, so a method that gives many ties (the click prior)
    ///   is neither helped nor hurt by how the candidates happen to be listed.
    /// - Non-finite scores (NaN, ±infinity) rank after every finite score; for AUC they count as the lowest score.
    /// - Queries without a relevant image (gain > 0) are skipped and not counted in
    ///   ``RankingMetrics/queries``.
    /// - Parameters:
    ///   - queries: The labelled queries.
    ///   - scores: The score of each of a query's images, in the order of ``JudgedQuery/images``.
    /// - Returns: The means (all 0 when no query has a relevant image).
    /// - Important: `scores` must return exactly one score per image, and each query must have one gain per
    ///   image; anything else is a programming error and traps.
    public static func evaluate(_ queries: [JudgedQuery], scores: (JudgedQuery) -> [Double]) -> RankingMetrics {
        var sums = QueryMetrics()
        var counted = 0
        var aucSum = 0.0
        var aucCounted = 0
        for query in queries {
            precondition(
                query.gains.count == query.images.count,
                "JudgedQuery '\(query.query)' has \(query.images.count) images but \(query.gains.count) gains"
            )
            guard query.gains.contains(where: { $0 > 0 }) else { continue }
            let values = scores(query)
            precondition(
                values.count == query.images.count,
                "scores returned \(values.count) values for \(query.images.count) images of '\(query.query)'"
            )
            let metrics = metrics(of: query, scores: values)
            sums.add(metrics)
            counted += 1
            if let auc = metrics.auc {
                aucSum += auc
                aucCounted += 1
            }
        }
        guard counted > 0 else { return RankingMetrics() }
        let n = Double(counted)
        return RankingMetrics(
            ndcg5: sums.ndcg[0] / n,
            ndcg10: sums.ndcg[1] / n,
            ndcg15: sums.ndcg[2] / n,
            ndcg20: sums.ndcg[3] / n,
            ndcg25: sums.ndcg[4] / n,
            precision5: sums.precision5 / n,
            meanAveragePrecision: sums.averagePrecision / n,
            meanReciprocalRank: sums.reciprocalRank / n,
            auc: aucCounted > 0 ? aucSum / Double(aucCounted) : 0,
            queries: counted
        )
    }

    /// The order in which a query's images are ranked: indices into `images`, best first.
    ///
    /// Finite scores first, higher first; equal scores by ascending ``tieBreakKey(query:image:)``, then by image
    /// key (only if two keys collide); non-finite scores last, ordered the same way among themselves.
    /// - Parameters:
    ///   - query: The judged query.
    ///   - scores: One score per image.
    /// - Returns: A permutation of `query.images.indices`.
    public static func ranking(of query: JudgedQuery, scores: [Double]) -> [Int] {
        precondition(scores.count == query.images.count, "one score per image is required")
        let keys = query.images.map { tieBreakKey(query: query.query, image: $0) }
        return query.images.indices.sorted { a, b in
            let (sa, sb) = (scores[a], scores[b])
            if sa.isFinite != sb.isFinite { return sa.isFinite }
            if sa.isFinite, sa != sb { return sa > sb }
            if keys[a] != keys[b] { return keys[a] < keys[b] }
            if query.images[a] != query.images[b] { return query.images[a] < query.images[b] }
            return a < b
        }
    }

    /// The deterministic pseudo-random key that orders tied images: 64-bit FNV-1a over the query's UTF-8 bytes, a
    /// `0xFF` separator (never part of UTF-8) and the image key's UTF-8 bytes, then the SplitMix64 finaliser.
    ///
    /// Mixing in the query means a given image is not always first among ties across queries.
    /// - Parameters:
    ///   - query: The query text.
    ///   - image: The image key.
    /// - Returns: The key; smaller ranks first among equal scores.
    public static func tieBreakKey(query: String, image: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let prime: UInt64 = 0x0000_0100_0000_01b3
        for byte in query.utf8 {
            hash = (hash ^ UInt64(byte)) &* prime
        }
        hash = (hash ^ 0xFF) &* prime
        for byte in image.utf8 {
            hash = (hash ^ UInt64(byte)) &* prime
        }
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        return hash ^ (hash >> 31)
    }

    // MARK: - One query

    /// NDCG at `cutoff` of one query ranked by `scores` (ties and non-finite scores ordered as in
    /// ``evaluate(_:scores:)``), or nil when the query has no relevant image (``evaluate(_:scores:)`` skips it).
    /// - Parameters:
    ///   - query: The judged query.
    ///   - scores: One score per image, in the order of ``JudgedQuery/images``.
    ///   - cutoff: The rank cut-off k.
    public static func ndcg(of query: JudgedQuery, scores: [Double], cutoff: Int) -> Double? {
        let gains = query.gains.map { max(0, $0) }
        let ideal = dcg(gains.sorted(by: >), cutoff: cutoff)
        guard ideal > 0 else { return nil }
        return dcg(ranking(of: query, scores: scores).map { gains[$0] }, cutoff: cutoff) / ideal
    }

    /// The metrics of one query that has at least one relevant image.
    struct QueryMetrics {
        var ndcg: [Double] = [0, 0, 0, 0, 0]
        var precision5 = 0.0
        var averagePrecision = 0.0
        var reciprocalRank = 0.0
        /// Nil when the query has no irrelevant image (no pair to compare).
        var auc: Double?

        mutating func add(_ other: QueryMetrics) {
            for index in ndcg.indices { ndcg[index] += other.ndcg[index] }
            precision5 += other.precision5
            averagePrecision += other.averagePrecision
            reciprocalRank += other.reciprocalRank
        }
    }

    static func metrics(of query: JudgedQuery, scores: [Double]) -> QueryMetrics {
        let gains = query.gains.map { max(0, $0) }
        let order = ranking(of: query, scores: scores)
        let ranked = order.map { gains[$0] }
        let ideal = gains.sorted(by: >)

        var result = QueryMetrics()
        for (slot, k) in RankingMetrics.ndcgCutoffs.enumerated() {
            let best = dcg(ideal, cutoff: k)
            result.ndcg[slot] = best > 0 ? dcg(ranked, cutoff: k) / best : 0
        }

        let relevantTotal = ranked.count { $0 > 0 }
        var hits = 0
        var precisionSum = 0.0
        for (position, gain) in ranked.enumerated() where gain > 0 {
            hits += 1
            precisionSum += Double(hits) / Double(position + 1)
            if hits == 1 { result.reciprocalRank = 1 / Double(position + 1) }
        }
        result.averagePrecision = relevantTotal > 0 ? precisionSum / Double(relevantTotal) : 0
        result.precision5 = Double(ranked.prefix(5).count { $0 > 0 }) / 5
        result.auc = auc(gains: gains, scores: scores)
        return result
    }

    /// DCG@k = Σ_{i=1…min(k,n)} (2^g_i − 1) / log2(i + 1).
    static func dcg(_ gains: [Int], cutoff: Int) -> Double {
        var total = 0.0
        for (index, gain) in gains.prefix(cutoff).enumerated() where gain > 0 {
            total += (exp2(Double(gain)) - 1) / log2(Double(index + 2))
        }
        return total
    }

    /// The share of (relevant, irrelevant) pairs where the relevant image scores higher, ties counting ½;
    /// non-finite scores count as lower than every finite one and equal to each other.
    static func auc(gains: [Int], scores: [Double]) -> Double? {
        var relevant: [Double] = []
        var irrelevant: [Double] = []
        for (gain, score) in zip(gains, scores) {
            let value = score.isFinite ? score : -.infinity
            if gain > 0 { relevant.append(value) } else { irrelevant.append(value) }
        }
        guard !relevant.isEmpty, !irrelevant.isEmpty else { return nil }
        var wins = 0.0
        for r in relevant {
            for s in irrelevant {
                if r > s {
                    wins += 1
                } else if r == s {
                    wins += 0.5
                }
            }
        }
        return wins / Double(relevant.count * irrelevant.count)
    }
}
