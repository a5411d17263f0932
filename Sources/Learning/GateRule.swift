import Evaluation
import Foundation

/// The quality gate's decision on a candidate and the version it would replace, from their NDCG@5 on each held-out
/// query (paired: the same queries, the same candidate lists).
///
/// The candidate passes when its mean NDCG@5 is at most ``tolerance`` below the parent's. A larger drop is refused
/// only when it is real: the candidate lowered more queries than it raised, and the two-sided sign test over the
/// queries it changed (``SignTest``) gives p ≤ ``significance``. When too few queries changed for the test ever to
/// reach ``significance`` (n changed queries, with 2 · ½ⁿ above it: fewer than 6 at 0.05), it cannot tell a
/// regression from noise, and the tolerance alone decides, as it always did: a handful of queries never lets a drop
/// through. Nor does a large one: a mean drop beyond ``ceilingFactor`` times the tolerance is refused whatever the
/// test says, since the sign test counts the queries a candidate lowered, not by how much.
/// `Docs/learning.md`, "The quality gate".
struct GateRule: Sendable, Hashable {
    /// Largest drop of the mean NDCG@5 accepted without a test (`learn.gate.tolerance`).
    var tolerance: Double
    /// The sign test's p-value at or below which a larger drop is real (`learn.gate.p-value`).
    var significance: Double

    /// A decision and what it rests on.
    struct Decision: Sendable, Hashable {
        var passed: Bool
        /// The parent's mean NDCG@5 minus the candidate's (positive: the candidate is worse).
        var drop: Double
        /// Queries whose NDCG@5 the candidate raised, lowered, or left as it was.
        var better: Int
        var worse: Int
        var same: Int
        /// The sign test's two-sided p-value, when it was needed and could reach ``GateRule/significance``.
        var pValue: Double?
        /// Why, as a clause for the gate's reason.
        var verdict: String
    }

    /// Judges paired per-query NDCG@5 values.
    /// - Parameters:
    ///   - candidate: The candidate's NDCG@5 on each query.
    ///   - parent: The parent's on the same queries, in the same order.
    func decide(candidate: [Double], parent: [Double]) -> Decision {
        precondition(candidate.count == parent.count, "the gate compares the same queries")
        var better = 0
        var worse = 0
        for (mine, theirs) in zip(candidate, parent) where abs(mine - theirs) > Self.sameWithin {
            if mine > theirs { better += 1 } else { worse += 1 }
        }
        let same = candidate.count - better - worse
        let count = Double(max(1, candidate.count))
        let drop = (parent.reduce(0, +) - candidate.reduce(0, +)) / count
        var decision = Decision(
            passed: true,
            drop: drop,
            better: better,
            worse: worse,
            same: same,
            pValue: nil,
            verdict: ""
        )
        let tally = "\(worse) worse, \(better) better, \(same) the same"
        guard drop > tolerance else {
            decision.verdict = "within the tolerance (\(tally))"
            return decision
        }
        let testable = SignTest.pValue(wins: better + worse, losses: 0) <= significance
        if testable {
            let p = SignTest.pValue(wins: better, losses: worse)
            decision.pValue = p
            let shown = String(format: "%.3g", p)
            if worse > better && p <= significance {
                decision.passed = false
                decision.verdict = "a real regression: \(tally), sign test p = \(shown) ≤ \(significance)"
                return decision
            }
            decision.verdict = "a drop beyond the tolerance the sign test does not confirm: \(tally), p = \(shown)"
        }
        if drop > Self.ceilingFactor * tolerance {
            decision.passed = false
            decision.verdict =
                "a drop beyond \(Self.ceilingFactor.formatted()) times the tolerance, refused whatever the sign test "
                + "says (\(tally))"
        } else if !testable {
            decision.passed = false
            decision.verdict =
                "a drop beyond the tolerance, on too few changed queries (\(better + worse)) for the sign test to "
                + "call it noise (\(tally))"
        }
        return decision
    }

    /// Per-query values closer than this are the same (one ranking's NDCG, computed twice, is identical).
    static let sameWithin = 1e-9

    /// A mean drop beyond this many tolerances is refused whatever the test says (0.02 at the default tolerance).
    static let ceilingFactor = 4.0
}
