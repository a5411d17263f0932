import Testing

@testable import Model

/// ``Swift/Array/ranked()``: the scoring workers' order, on integer keys.
@Suite struct ScoredImageTests {
    @Test func rankedIsTheOrderOfScoreDescendingThenIndex() {
        var rng = SplitMix64(seed: 31)
        // Few distinct values, so that ties are common; signed zeros and infinities among them.
        let values: [Float] = [-1, -0.5, -0.0, 0, 1e-30, 0.25, 0.25000003, 1, -.infinity, .infinity, -1e-30]
        for count in [0, 1, 2, 7, 100, 513] {
            let images = (0..<count).map { index in
                ScoredImage(
                    index: index,
                    score: values[Int(rng.next() % UInt64(values.count))],
                    visualWeight: 0.5,
                    languageWeight: 0.5
                )
            }
            let expected = images.sorted { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
            #expect(images.ranked() == expected, "\(count) images")
        }
    }

    @Test func aNaNScoreRanksLast() {
        let images = [Float.nan, 0.5, -0.5].enumerated().map {
            ScoredImage(index: $0, score: $1, visualWeight: 1, languageWeight: 0)
        }
        #expect(images.ranked().map(\.index) == [1, 2, 0])
    }
}
