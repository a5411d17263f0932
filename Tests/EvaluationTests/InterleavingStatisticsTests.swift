import Foundation
import Testing

@testable import Evaluation

/// Interleaving credit, the sign test and ranking agreement against values worked out by hand (arithmetic in the
/// comments).
@Suite struct InterleavingStatisticsTests {
    // MARK: - Credit

    let images = ["a", "b", "c", "d"]
    let teams = ["candidate", "active", "active", "candidate"]

    @Test func theTeamWithMoreClickedImagesWinsTheImpression() {
        #expect(ImpressionCredit.of(images: images, teams: teams, clicked: ["a", "d"]) == .candidateWins)
        #expect(ImpressionCredit.of(images: images, teams: teams, clicked: ["a", "b", "c"]) == .candidateLoses)
        #expect(ImpressionCredit.of(images: images, teams: teams, clicked: ["b"]) == .candidateLoses)
    }

    @Test func equalClickedImagesAreATieAndAnImageClickedTwiceCountsOnce() {
        #expect(ImpressionCredit.of(images: images, teams: teams, clicked: ["a", "b"]) == .tie)
        #expect(ImpressionCredit.of(images: images, teams: teams, clicked: ["a", "a", "b"]) == .tie)
    }

    @Test func anImpressionWithoutACountedClickCreditsNobody() {
        #expect(ImpressionCredit.of(images: images, teams: teams, clicked: []) == nil)
        // Not in the ranking, or a team that is neither.
        #expect(ImpressionCredit.of(images: images, teams: teams, clicked: ["z"]) == nil)
        #expect(ImpressionCredit.of(images: ["a"], teams: ["nobody"], clicked: ["a"]) == nil)
    }

    @Test func aTallyCountsWinsLossesAndTies() {
        let tally = InterleavingTally([.candidateWins, .tie, .candidateWins, .candidateLoses])
        #expect(tally == InterleavingTally(wins: 2, losses: 1, ties: 1))
        #expect(tally.impressions == 4)
    }

    // MARK: - Sign test

    @Test func signTestPValuesMatchTheBinomialByHand() {
        // n = 10: P(X ≤ 1) = (C(10,0) + C(10,1)) / 2^10 = 11/1024; two-sided 22/1024 = 0.021484375.
        #expect(abs(SignTest.pValue(wins: 9, losses: 1) - 0.021_484_375) < 1e-12)
        #expect(abs(SignTest.pValue(wins: 1, losses: 9) - 0.021_484_375) < 1e-12)
        // n = 10, all wins: 2 · 1/1024 = 0.001953125.
        #expect(abs(SignTest.pValue(wins: 10, losses: 0) - 0.001_953_125) < 1e-12)
        // n = 10: P(X ≤ 3) = (1 + 10 + 45 + 120)/1024 = 176/1024; two-sided 0.34375.
        #expect(abs(SignTest.pValue(wins: 7, losses: 3) - 0.343_75) < 1e-12)
        // n = 20: P(X ≤ 5) = (1 + 20 + 190 + 1140 + 4845 + 15504)/2^20 = 21700/1048576; two-sided 0.0413894653.
        #expect(abs(SignTest.pValue(wins: 15, losses: 5) - 43_400.0 / 1_048_576) < 1e-12)
    }

    @Test func anEvenSplitOrNoDecisiveImpressionGivesOne() {
        // n = 10, 5 and 5: 2 · 638/1024 > 1, capped at 1.
        #expect(SignTest.pValue(wins: 5, losses: 5) == 1)
        #expect(SignTest.pValue(wins: 0, losses: 0) == 1)
        #expect(InterleavingTally(wins: 0, losses: 0, ties: 7).pValue == 1)
    }

    @Test func tiesAreDroppedFromTheSignTest() {
        #expect(InterleavingTally(wins: 9, losses: 1, ties: 40).pValue == SignTest.pValue(wins: 9, losses: 1))
    }

    @Test func largeSamplesStayFiniteAndOrdered() {
        // 1100 of 2000: z = 100/√500 ≈ 4.47, p ≈ 7.7e-6; 1300 of 2000 is far smaller still, but positive.
        let moderate = SignTest.pValue(wins: 1100, losses: 900)
        let extreme = SignTest.pValue(wins: 1300, losses: 700)
        #expect(moderate > 1e-6 && moderate < 2e-5)
        #expect(extreme > 0 && extreme < moderate)
        #expect(SignTest.pValue(wins: 50_000, losses: 50_000) == 1)
    }

    // MARK: - Sequential rule

    @Test func theFirstLookDecidesAtHalfTheAlpha() {
        let credits = Array(repeating: ImpressionCredit.candidateWins, count: 9) + [.candidateLoses]
        // Look 0 (10 impressions): p = 0.021484375 ≤ 0.05/2.
        let wins = SequentialSignTest(minImpressions: 10, alpha: 0.05).judge(credits)
        #expect(wins.verdict == .candidateWins)
        #expect(wins.look == 0)
        #expect(wins.threshold == 0.025)
        #expect(wins.tally == InterleavingTally(wins: 9, losses: 1))
        // At α = 0.04 the threshold is 0.02 < 0.0215: undecided.
        #expect(SequentialSignTest(minImpressions: 10, alpha: 0.04).judge(credits).verdict == .undecided)
        // Mirrored, the candidate loses.
        let mirrored = credits.map { $0 == .candidateWins ? ImpressionCredit.candidateLoses : .candidateWins }
        #expect(SequentialSignTest(minImpressions: 10, alpha: 0.05).judge(mirrored).verdict == .candidateLoses)
    }

    @Test func impressionsBeyondTheLatestLookChangeNothingUntilTheNextLookIsComplete() {
        let rule = SequentialSignTest(minImpressions: 10, alpha: 0.04)
        let first = Array(repeating: ImpressionCredit.candidateWins, count: 9) + [.candidateLoses]
        // 19 impressions, all later ones wins: only look 0 (the first 10) is complete, still undecided.
        let early = rule.judge(first + Array(repeating: .candidateWins, count: 9))
        #expect(early.verdict == .undecided)
        #expect(early.look == 0)
        #expect(early.tally == InterleavingTally(wins: 9, losses: 1))
        #expect(early.impressions == 19)
        // The 20th completes look 1: 19 wins, 1 loss, p = 2 · 21/2^20 = 4.0054e-5 ≤ 0.04/4.
        let decided = rule.judge(first + Array(repeating: .candidateWins, count: 10))
        #expect(decided.verdict == .candidateWins)
        #expect(decided.look == 1)
        #expect(decided.threshold == 0.01)
        #expect(abs(decided.pValue - 42.0 / 1_048_576) < 1e-15)
    }

    @Test func noCompleteLookIsUndecided() {
        let judgement = SequentialSignTest(minImpressions: 10, alpha: 0.05).judge(
            Array(repeating: .candidateWins, count: 9)
        )
        #expect(judgement.verdict == .undecided)
        #expect(judgement.look == nil)
        #expect(judgement.impressions == 9)
    }

    // MARK: - Agreement

    @Test func kendallTauOverTheCommonImages() {
        #expect(RankingAgreement.kendallTau(["a", "b", "c", "d"], ["a", "b", "c", "d"]) == 1)
        #expect(RankingAgreement.kendallTau(["a", "b", "c", "d"], ["d", "c", "b", "a"]) == -1)
        // One swapped pair of six: (5 − 1)/6.
        #expect(RankingAgreement.kendallTau(["a", "b", "c", "d"], ["b", "a", "c", "d"]) == 4.0 / 6)
        // Common images a, b, c; in the second list c < a < b. Pairs (a,b) concordant, (a,c) and (b,c) discordant:
        // (1 − 2)/3. x and y are in one list each and ignored.
        #expect(RankingAgreement.kendallTau(["a", "b", "c", "x"], ["c", "a", "y", "b"]) == -1.0 / 3)
        // Fewer than two common images: undefined.
        #expect(RankingAgreement.kendallTau(["a", "b"], ["a", "c"]) == nil)
    }

    @Test func topOverlapDividesByTheShorterTopK() {
        // top-5 {a,b,c,d,e} and {a,x,c,y,e}: 3 of 5.
        #expect(
            RankingAgreement.topOverlap(["a", "b", "c", "d", "e", "f"], ["a", "x", "c", "y", "e", "b"], k: 5) == 0.6
        )
        // Lists of 2 and 3: min(5, 2, 3) = 2, one shared.
        #expect(RankingAgreement.topOverlap(["a", "b"], ["b", "c", "d"], k: 5) == 0.5)
        #expect(RankingAgreement.topOverlap([], ["a"], k: 5) == nil)
    }
}
