import Foundation
import Testing

@testable import Evaluation

/// Every metric against values worked out by hand (the arithmetic is in the comments).
@Suite struct EvaluatorTests {
    /// Images a, b, c, d with gains 3, 0, 2, 0 and scores 0.1, 0.9, 0.5, 0.3: the ranking is b, c, d, a, so the
    /// ranked gains are 0, 2, 0, 3 (relevant at positions 2 and 4).
    let mixed = JudgedQuery(query: "red car", images: ["a", "b", "c", "d"], gains: [3, 0, 2, 0])
    let mixedScores = [0.1, 0.9, 0.5, 0.3]

    @Test func ndcgOfOneQuery() {
        let metrics = Evaluator.evaluate([mixed]) { _ in mixedScores }
        // DCG@5 = (2^0−1)/log2(2) + (2^2−1)/log2(3) + (2^0−1)/log2(4) + (2^3−1)/log2(5)
        //       = 0 + 3/1.5849625 + 0 + 7/2.3219281 = 1.8927893 + 3.0147359 = 4.9075252
        // ideal gains 3, 2, 0, 0: IDCG@5 = 7/log2(2) + 3/log2(3) = 7 + 1.8927893 = 8.8927893
        // NDCG@5 = 4.9075252 / 8.8927893 = 0.5518544
        let dcg = 3 / log2(3.0) + 7 / log2(5.0)
        let ideal = 7 / log2(2.0) + 3 / log2(3.0)
        #expect(abs(metrics.ndcg5 - dcg / ideal) < 1e-12)
        #expect(abs(metrics.ndcg5 - 0.551_854_4) < 1e-6)
        // Only four candidates: every cut-off ≥ 4 gives the same value.
        #expect(metrics.ndcg10 == metrics.ndcg5)
        #expect(metrics.ndcg25 == metrics.ndcg5)
        #expect(metrics.queries == 1)
    }

    @Test func oneQuerysNDCGIsTheOneTheMeanAveragesAndNilWithoutARelevantImage() throws {
        let value = try #require(Evaluator.ndcg(of: mixed, scores: mixedScores, cutoff: 5))
        #expect(abs(value - 0.551_854_4) < 1e-6)
        #expect(value == Evaluator.evaluate([mixed]) { _ in mixedScores }.ndcg5)
        let unjudged = JudgedQuery(query: "q", images: ["a", "b"], gains: [0, 0])
        #expect(Evaluator.ndcg(of: unjudged, scores: [1, 2], cutoff: 5) == nil)
    }

    @Test func cutoffsBelowTheListLength() {
        // Six candidates, gains 0,0,0,0,0,3 in score order; the relevant image is at position 6.
        let query = JudgedQuery(query: "q", images: ["a", "b", "c", "d", "e", "f"], gains: [0, 0, 0, 0, 0, 3])
        let metrics = Evaluator.evaluate([query]) { _ in [6, 5, 4, 3, 2, 1] }
        // NDCG@5 = 0 (nothing relevant in the top 5); NDCG@10 = (7/log2(7)) / (7/log2(2)) = 1/log2(7) = 0.3562071
        #expect(metrics.ndcg5 == 0)
        #expect(abs(metrics.ndcg10 - 1 / log2(7.0)) < 1e-12)
        // P@5 = 0/5; AP = (1/6)/1; RR = 1/6; AUC: the relevant image is below all 5 irrelevant ones = 0/5.
        #expect(metrics.precision5 == 0)
        #expect(abs(metrics.meanAveragePrecision - 1.0 / 6) < 1e-12)
        #expect(abs(metrics.meanReciprocalRank - 1.0 / 6) < 1e-12)
        #expect(metrics.auc == 0)
    }

    @Test func precisionAveragePrecisionReciprocalRankAndAUC() {
        let metrics = Evaluator.evaluate([mixed]) { _ in mixedScores }
        // Ranked gains 0, 2, 0, 3. P@5 = 2 relevant / 5 (the denominator stays 5 with 4 candidates) = 0.4.
        #expect(metrics.precision5 == 0.4)
        // AP = (P@2 + P@4) / 2 = (1/2 + 2/4) / 2 = 0.5.
        #expect(metrics.meanAveragePrecision == 0.5)
        // First relevant at position 2: RR = 1/2.
        #expect(metrics.meanReciprocalRank == 0.5)
        // Pairs (relevant, irrelevant): (a .1, b .9) lose, (a .1, d .3) lose, (c .5, b .9) lose, (c .5, d .3) win:
        // AUC = 1/4.
        #expect(metrics.auc == 0.25)
    }

    @Test func averagePrecisionWithSeveralRelevantImages() {
        // Ranked relevance R N R R N: AP = (1/1 + 2/3 + 3/4) / 3 = (12 + 8 + 9) / 36 = 29/36 = 0.8055556.
        let query = JudgedQuery(query: "q", images: ["a", "b", "c", "d", "e"], gains: [2, 0, 3, 2, 0])
        let metrics = Evaluator.evaluate([query]) { _ in [5, 4, 3, 2, 1] }
        #expect(abs(metrics.meanAveragePrecision - 29.0 / 36) < 1e-12)
        // P@5 = 3/5; RR = 1; AUC: relevant a(5), c(3), d(2) vs irrelevant b(4), e(1):
        // a beats both (2), c beats e (1), d beats e (1) → 4 of 6 pairs = 2/3.
        #expect(metrics.precision5 == 0.6)
        #expect(metrics.meanReciprocalRank == 1)
        #expect(abs(metrics.auc - 4.0 / 6) < 1e-12)
    }

    @Test func precisionDenominatorIsFiveEvenWithFewerCandidates() {
        let query = JudgedQuery(query: "q", images: ["a", "b"], gains: [3, 0])
        let metrics = Evaluator.evaluate([query]) { _ in [1, 0] }
        // One relevant image in the top 5 of a 2-image list: 1/5.
        #expect(metrics.precision5 == 0.2)
        #expect(metrics.ndcg5 == 1)
    }

    @Test func meansAreOverQueriesAndAUCOnlyOverQueriesWithBothKinds() {
        // Second query: both images relevant, gains 2, 3 scored 0.9, 0.1 → ranked gains 2, 3.
        // NDCG@5 = (3/log2(2) + 7/log2(3)) / (7/log2(2) + 3/log2(3)) = (3 + 4.4165083) / 8.8927893 = 0.8339912
        let allRelevant = JudgedQuery(query: "blue car", images: ["e", "f"], gains: [2, 3])
        let metrics = Evaluator.evaluate([mixed, allRelevant]) { query in
            query.query == "red car" ? mixedScores : [0.9, 0.1]
        }
        let first = (3 / log2(3.0) + 7 / log2(5.0)) / (7 + 3 / log2(3.0))
        let second = (3 + 7 / log2(3.0)) / (7 + 3 / log2(3.0))
        #expect(metrics.queries == 2)
        #expect(abs(metrics.ndcg5 - (first + second) / 2) < 1e-12)
        // P@5: (0.4 + 2/5) / 2 = 0.4; MAP: (0.5 + (1/1 + 2/2)/2) / 2 = 0.75; MRR: (0.5 + 1) / 2 = 0.75.
        #expect(abs(metrics.precision5 - 0.4) < 1e-12)
        #expect(metrics.meanAveragePrecision == 0.75)
        #expect(metrics.meanReciprocalRank == 0.75)
        // The second query has no irrelevant image, so AUC is the first query's alone: 0.25 (not 0.125).
        #expect(metrics.auc == 0.25)
    }

    @Test func queriesWithoutARelevantImageAreExcludedFromEveryMean() {
        let noneRelevant = JudgedQuery(query: "nothing", images: ["x", "y"], gains: [0, 0])
        let alone = Evaluator.evaluate([mixed]) { _ in mixedScores }
        let withExcluded = Evaluator.evaluate([noneRelevant, mixed, noneRelevant]) { query in
            query.query == "red car" ? mixedScores : [1, 2]
        }
        #expect(withExcluded == alone)
        #expect(withExcluded.queries == 1)
        #expect(Evaluator.evaluate([noneRelevant]) { _ in [1, 2] } == RankingMetrics())
        #expect(Evaluator.evaluate([]) { _ in [] } == RankingMetrics())
    }

    @Test func aucCountsTiesAsHalfAndIsZeroWhenNoQueryHasBothKinds() {
        // Relevant a and irrelevant b tie: 1/2. Relevant c beats irrelevant b: 1. Over 2 pairs: 1.5/2 = 0.75.
        let query = JudgedQuery(query: "q", images: ["a", "b", "c"], gains: [2, 0, 3])
        #expect(Evaluator.evaluate([query]) { _ in [1, 1, 2] }.auc == 0.75)
        let onlyRelevant = JudgedQuery(query: "q", images: ["a"], gains: [3])
        let metrics = Evaluator.evaluate([onlyRelevant]) { _ in [1] }
        #expect(metrics.auc == 0)
        #expect(metrics.queries == 1)
        #expect(metrics.ndcg5 == 1)
    }

    @Test func tiesAreBrokenByAKeyOfQueryAndImageNotByInputOrder() {
        let forward = JudgedQuery(query: "tie", images: ["a", "b", "c"], gains: [3, 0, 2])
        let reversed = JudgedQuery(query: "tie", images: ["c", "b", "a"], gains: [2, 0, 3])
        let first = Evaluator.evaluate([forward]) { _ in [1, 1, 1] }
        let second = Evaluator.evaluate([reversed]) { _ in [1, 1, 1] }
        #expect(first == second)

        // The order among ties is ascending tie-break key.
        let order = Evaluator.ranking(of: forward, scores: [1, 1, 1]).map { forward.images[$0] }
        let byKey = forward.images.sorted {
            Evaluator.tieBreakKey(query: "tie", image: $0) < Evaluator.tieBreakKey(query: "tie", image: $1)
        }
        #expect(order == byKey)

        // Across many queries the first-listed image wins a two-way tie about half of the time: neither input
        // order nor key order is favoured. (Deterministic: the keys are fixed functions of the strings.)
        // Half the queries list img1 first, half img2.
        var firstListedWins = 0
        var img1Wins = 0
        for index in 0..<400 {
            let images = index.isMultiple(of: 2) ? ["img1", "img2"] : ["img2", "img1"]
            let query = JudgedQuery(query: "query \(index)", images: images, gains: [3, 0])
            let ranking = Evaluator.ranking(of: query, scores: [0.5, 0.5])
            if ranking[0] == 0 { firstListedWins += 1 }
            if query.images[ranking[0]] == "img1" { img1Wins += 1 }
        }
        #expect((120...280).contains(firstListedWins))
        #expect((120...280).contains(img1Wins))
    }

    @Test func tieBreakKeyDependsOnQueryAndImage() {
        let key = Evaluator.tieBreakKey(query: "q", image: "a")
        #expect(key == Evaluator.tieBreakKey(query: "q", image: "a"))
        #expect(key != Evaluator.tieBreakKey(query: "q", image: "b"))
        #expect(key != Evaluator.tieBreakKey(query: "r", image: "a"))
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        #expect(Evaluator.tieBreakKey(query: "ab", image: "c") != Evaluator.tieBreakKey(query: "a", image: "bc"))
    }

    @Test func nonFiniteScoresRankLastAndCountAsLowestForAUC() {
        let query = JudgedQuery(query: "q", images: ["a", "b", "c"], gains: [3, 0, 2])
        for bad in [Double.nan, .infinity, -.infinity] {
            // a is non-finite: ranking b (0.1), c (0.05), a → ranked gains 0, 2, 3.
            let ranking = Evaluator.ranking(of: query, scores: [bad, 0.1, 0.05])
            #expect(ranking == [1, 2, 0])
            let metrics = Evaluator.evaluate([query]) { _ in [bad, 0.1, 0.05] }
            #expect(metrics.meanReciprocalRank == 0.5)
            // AUC: a (lowest) vs b loses; c (0.05) vs b (0.1) loses → 0.
            #expect(metrics.auc == 0)
        }
        // Two non-finite scores tie with each other for AUC: relevant NaN vs irrelevant +inf → 1/2.
        let pair = JudgedQuery(query: "q", images: ["a", "b"], gains: [3, 0])
        #expect(Evaluator.evaluate([pair]) { _ in [.nan, .infinity] }.auc == 0.5)
    }

    @Test func metricsRoundTripThroughJSON() throws {
        let metrics = Evaluator.evaluate([mixed]) { _ in mixedScores }
        let decoded = try JSONDecoder().decode(RankingMetrics.self, from: JSONEncoder().encode(metrics))
        #expect(decoded == metrics)
        #expect(metrics.ndcg(at: 5) == metrics.ndcg5)
        #expect(metrics.ndcg(at: 7) == nil)
    }
}
