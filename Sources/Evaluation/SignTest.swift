import Foundation

/// The two-sided exact sign test: are wins and losses equally likely?
///
/// Ties are dropped. Under the null hypothesis each of the n = wins + losses decisive impressions is a win with
/// probability ½, so the number of wins is Binomial(n, ½); the p-value is the probability of a split at least as
/// uneven as the one observed, in either direction: `min(1, 2 · P(X ≤ min(wins, losses)))`. With no decisive
/// impression it is 1.
public enum SignTest {
    /// The two-sided p-value.
    /// - Parameters:
    ///   - wins: Decisive impressions won by the candidate.
    ///   - losses: Decisive impressions lost by the candidate.
    /// - Returns: A probability in (0, 1].
    public static func pValue(wins: Int, losses: Int) -> Double {
        precondition(wins >= 0 && losses >= 0, "counts are never negative")
        let n = wins + losses
        if n == 0 { return 1 }
        let smaller = min(wins, losses)
        // P(X ≤ smaller) for X ~ Binomial(n, ½), summed in log space so large n neither overflows nor underflows
        // early: log C(n, k) − n·log 2 for each term, added relative to the largest (the last, k = smaller ≤ n/2).
        let logHalfPower = Double(n) * log(2.0)
        func logTerm(_ k: Int) -> Double {
            lgamma(Double(n) + 1) - lgamma(Double(k) + 1) - lgamma(Double(n - k) + 1) - logHalfPower
        }
        let largest = logTerm(smaller)
        var sum = 0.0
        for k in 0...smaller { sum += exp(logTerm(k) - largest) }
        let tail = exp(largest + log(sum))
        return min(1, 2 * tail)
    }
}
