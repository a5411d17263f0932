/// How much two rankings of the same request agree (shadow scoring, Docs/online.md).
///
/// Both measures compare lists of distinct image keys, best first, that may be prefixes (after `top`) of different
/// candidate orders, so an image may be in one list and not the other.
public enum RankingAgreement {
    /// The share of the top `k` images the two lists have in common.
    ///
    /// `|top_k(a) ∩ top_k(b)| / min(k, |a|, |b|)`: 1 when the shorter top-`k` is contained in the other's. Nil
    /// when either list is empty or `k` < 1.
    /// - Parameters:
    ///   - a: One ranking.
    ///   - b: The other.
    ///   - k: The cut-off (5 in `amc model compare`).
    public static func topOverlap(_ a: [String], _ b: [String], k: Int) -> Double? {
        let size = min(k, a.count, b.count)
        guard size > 0 else { return nil }
        let shared = Set(a.prefix(k)).intersection(b.prefix(k)).count
        return Double(shared) / Double(size)
    }

    /// Kendall's τ over the images both lists contain, ranked by their positions in each.
    ///
    /// For the n ≥ 2 common images, τ = (concordant − discordant) / (n(n−1)/2) over every pair of them: a pair is
    /// concordant when both lists put them in the same order. Positions within a list are distinct, so no pair is
    /// tied and this is τ-b as well as τ-a. Images only one list contains are ignored (their order relative to the
    /// others is unknown: they were cut off or never scored). Nil when fewer than two images are common.
    /// - Parameters:
    ///   - a: One ranking.
    ///   - b: The other.
    public static func kendallTau(_ a: [String], _ b: [String]) -> Double? {
        var positionInB: [String: Int] = [:]
        for (position, image) in b.enumerated() where positionInB[image] == nil { positionInB[image] = position }
        var seen = Set<String>()
        // The common images in a's order, as their positions in b.
        var order: [Int] = []
        for image in a where seen.insert(image).inserted {
            if let position = positionInB[image] { order.append(position) }
        }
        let n = order.count
        guard n >= 2 else { return nil }
        var score = 0
        for i in 0..<(n - 1) {
            for j in (i + 1)..<n { score += order[i] < order[j] ? 1 : -1 }
        }
        return Double(score) / Double(n * (n - 1) / 2)
    }
}
