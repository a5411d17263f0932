import Evaluation
import Testing

@testable import Learning

/// The gate's decision rule on constructed per-query NDCG@5 figures, and the composition of its held-out set.
@Suite struct GateRuleTests {
    let rule = GateRule(tolerance: 0.005, significance: 0.05)

    @Test func aDropWithinTheTolerancePassesWithoutATest() {
        let decision = rule.decide(candidate: [0.80, 0.70, 0.91], parent: [0.80, 0.71, 0.91])
        #expect(decision.passed)
        #expect(decision.pValue == nil)
        #expect((decision.better, decision.worse, decision.same) == (0, 1, 2))
    }

    @Test func aSmallWindowsDropIsRefusedAsBeforeWhenTooFewQueriesChangedForTheTest() {
        // One of three queries lost 0.3: a mean drop of 0.1. With one changed query the sign test's smallest p is 1,
        // so it cannot call the drop noise; the tolerance alone decides, as the gate always did.
        let decision = rule.decide(candidate: [0.5, 0.9, 0.8], parent: [0.8, 0.9, 0.8])
        #expect(!decision.passed)
        #expect(decision.pValue == nil)
        // Five changed queries, all worse: 2 · ½⁵ = 0.0625 > 0.05, still too few to test.
        let five = rule.decide(candidate: [0.1, 0.1, 0.1, 0.1, 0.1], parent: [0.9, 0.9, 0.9, 0.9, 0.9])
        #expect(!five.passed && five.pValue == nil)
    }

    @Test func aDropBeyondTheToleranceIsRefusedWhenTheSignTestConfirmsIt() {
        // 12 queries worse by 0.05, 2 better by 0.01, 6 the same: p = 2 · P(X ≤ 2 | n = 14) = 2 · 106 / 16384.
        let parent = Array(repeating: 0.8, count: 20)
        var candidate = parent
        for index in 0..<12 { candidate[index] = 0.75 }
        candidate[12] = 0.81
        candidate[13] = 0.81
        let decision = rule.decide(candidate: candidate, parent: parent)
        #expect(!decision.passed)
        #expect((decision.better, decision.worse, decision.same) == (2, 12, 6))
        #expect(abs((decision.pValue ?? 1) - 2 * 106 / 16384.0) < 1e-12)
    }

    @Test func aDropBeyondTheToleranceThatTheSignTestDoesNotConfirmPasses() {
        // 7 worse (by 0.03 each), 6 better (by 0.01 each), 7 the same: a mean drop of 0.0075, beyond the tolerance
        // but within its ceiling, and 7 against 6 is a coin's split (p = 1); the old gate refused this.
        let parent = Array(repeating: 0.8, count: 20)
        var candidate = parent
        for index in 0..<7 { candidate[index] = 0.77 }
        for index in 7..<13 { candidate[index] = 0.81 }
        let decision = rule.decide(candidate: candidate, parent: parent)
        #expect(decision.drop > 0.005 && decision.drop < 4 * 0.005)
        #expect(decision.passed)
        #expect(abs((decision.pValue ?? 0) - 1) < 1e-9)
        #expect((decision.better, decision.worse, decision.same) == (6, 7, 7))
    }

    @Test func aLargeDropIsRefusedWhateverTheSignTestSays() {
        // The same split of queries, but the 7 worse ones lose 0.2 each: a mean drop of 0.067, more than four
        // tolerances. The sign test counts queries, not losses, so it alone would pass this.
        let parent = Array(repeating: 0.8, count: 20)
        var candidate = parent
        for index in 0..<7 { candidate[index] = 0.6 }
        for index in 7..<13 { candidate[index] = 0.81 }
        let decision = rule.decide(candidate: candidate, parent: parent)
        #expect(decision.drop > 4 * 0.005)
        #expect(!decision.passed)
        #expect(abs((decision.pValue ?? 0) - 1) < 1e-9)
        #expect(decision.verdict.contains("whatever the sign test says"))
    }

    @Test func aDeliberatelyDegradedCandidateIsRefusedWhenTheWindowIsToppedUp() {
        // Worse on 18 of 20 queries by 0.4, better on 2: p = 2 · (1 + 20 + 190) / 2²⁰.
        let parent = Array(repeating: 0.9, count: 20)
        var candidate = Array(repeating: 0.5, count: 20)
        candidate[0] = 0.95
        candidate[1] = 0.95
        let decision = rule.decide(candidate: candidate, parent: parent)
        #expect(!decision.passed)
        #expect(abs((decision.pValue ?? 1) - 2 * 211 / 1_048_576.0) < 1e-12)
    }

    // MARK: - The held-out set

    @Test func theWindowsQueriesAreToppedUpWithTheMostRecentEarlierOnesNotInTheWindow() {
        var recent = RecentHeldOutQueries(capacity: 4)
        recent.remember([judged("a"), judged("b"), judged("unjudged", relevant: false)])
        recent.remember([judged("c"), judged("d")])
        recent.remember([judged("e")])
        // Most recent first; the query without a relevant image is never remembered; the capacity keeps 4.
        #expect(recent.queries.map(\.query) == ["e", "c", "d", "a"])

        // The window's queries come first, all of them, then the most recent earlier ones that are not in it.
        let window = [judged("c", gain: 3), judged("x")]
        let composed = recent.composing(window: window, minimum: 4)
        #expect(composed.queries.map(\.query) == ["c", "x", "e", "d"])
        #expect(composed.queries[0].gains == [3, 0])
        #expect((composed.fromWindow, composed.fromEarlier) == (2, 2))
        // A window of at least the minimum is judged alone; a minimum beyond the memory takes everything remembered.
        #expect(recent.composing(window: window, minimum: 2).fromEarlier == 0)
        #expect(recent.composing(window: window, minimum: 100).queries.map(\.query) == ["c", "x", "e", "d", "a"])

        // The window's lists replace the older ones of the same queries, and move to the front.
        recent.remember(window)
        #expect(recent.queries.map(\.query) == ["c", "x", "e", "d"])
        #expect(recent.queries[0].gains == [3, 0])
    }

    @Test func aSmallWindowsNoWorseFineTuneIsAcceptedOnTheToppedUpSetWhereTheWindowAloneRefusedIt() {
        // The window brought 3 held-out queries; the candidate lost 0.3 on one of them: judged on the window alone
        // (the old gate), a mean drop of 0.1 is refused.
        var ndcg: [String: (candidate: Double, parent: Double)] = [
            "w0": (0.5, 0.8), "w1": (0.9, 0.9), "w2": (0.7, 0.7),
        ]
        // Earlier windows' queries: a quarter better by 0.01, a quarter worse by 0.01, half the same.
        for index in 0..<40 {
            let candidate: Double = index % 4 == 0 ? 0.86 : index % 4 == 1 ? 0.84 : 0.85
            ndcg["e\(index)"] = (candidate, 0.85)
        }
        func decide(_ queries: [JudgedQuery]) -> GateRule.Decision {
            rule.decide(
                candidate: queries.map { ndcg[$0.query]!.candidate },
                parent: queries.map { ndcg[$0.query]!.parent }
            )
        }
        let window = ["w0", "w1", "w2"].map { judged($0) }
        #expect(!decide(window).passed)

        // Topped up to 40 with earlier windows' queries, on which it is as often better as worse: accepted.
        var recent = RecentHeldOutQueries(capacity: 40)
        recent.remember((0..<40).map { judged("e\($0)") })
        let composed = recent.composing(window: window, minimum: 40)
        #expect(composed.queries.count == 40 && composed.fromWindow == 3)
        let decision = decide(composed.queries)
        #expect(decision.passed, "\(decision.verdict)")
    }

    private func judged(_ query: String, gain: Int = 1, relevant: Bool = true) -> JudgedQuery {
        JudgedQuery(query: query, images: ["\(query)-1", "\(query)-2"], gains: [relevant ? gain : 0, 0])
    }
}
