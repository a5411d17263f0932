import Model
import Serving
import Testing

/// Team-draft interleaving (``TeamDraft``) is fair and well-formed: over many seeded merges each team picks first
/// half the time, no image appears twice, and a merge is a permutation of a prefix of each ranking (their union's).
@Suite struct TeamDraftTests {
    /// Two rankings of the same ten images in different orders.
    let active = (0..<10).map { "image-\($0)" }
    var candidate: [String] { [3, 0, 7, 1, 9, 2, 4, 8, 6, 5].map { "image-\($0)" } }

    @Test func eachTeamPicksFirstHalfTheTimeOverSeeds() {
        let merges = 20_000
        var activeFirst = 0
        var activeTotal = 0
        var positions = 0
        for seed in 0..<UInt64(merges) {
            var generator = SplitMix64(seed: seed)
            let merged = TeamDraft.merge(active: active, candidate: candidate, length: 10, using: &generator)
            if merged[0].team == .active { activeFirst += 1 }
            activeTotal += merged.filter { $0.team == .active }.count
            positions += merged.count
            // Rounds: neither team is ever more than one pick ahead of the other.
            var lead = 0
            for pick in merged {
                lead += pick.team == .active ? 1 : -1
                if abs(lead) > 1 { Issue.record("seed \(seed): a team is two picks ahead") }
            }
        }
        // A fair coin over n merges: the share is 1/2 with standard deviation sqrt(1/4n); 5 of them is a bound a fair
        // coin exceeds with probability under 1e-6 (and a biased one, say 0.52, fails at n = 20 000: 0.02 > 5σ ≈ 0.018).
        let tolerance = 5 * (0.25 / Double(merges)).squareRoot()
        #expect(abs(Double(activeFirst) / Double(merges) - 0.5) < tolerance, "active first \(activeFirst)/\(merges)")
        // Same-set rankings of even length: every round adds one image per team, so the teams split every list evenly.
        #expect(activeTotal * 2 == positions)
    }

    @Test func noImageTwiceAndEachTeamsPicksArePrefixesOfItsRanking() {
        // The candidate ranks images the active one does not (and the other way round): the union has 13.
        let candidate = ["image-3", "new-a", "image-0", "new-b", "image-7", "new-c", "image-1"]
        let union = Set(active).union(candidate)
        for length in [0, 1, 4, 7, 13, 50] {
            for seed in 0..<UInt64(200) {
                var generator = SplitMix64(seed: seed)
                let merged = TeamDraft.merge(active: active, candidate: candidate, length: length, using: &generator)
                let images = merged.map(\.image)
                #expect(merged.count == min(length, union.count))
                #expect(Set(images).count == images.count, "an image twice: \(images)")
                // Each team placed the image at the rank it says, from its own ranking.
                #expect(merged.allSatisfy { ($0.team == .active ? active : candidate)[$0.rankInTeam] == $0.image })
                // The merged list is exactly the union of a prefix of each ranking: everything a team ranks above an
                // image it placed is in the list.
                let activeDepth = (merged.filter { $0.team == .active }.map(\.rankInTeam).max() ?? -1) + 1
                let candidateDepth = (merged.filter { $0.team == .candidate }.map(\.rankInTeam).max() ?? -1) + 1
                let prefixes = Set(active.prefix(activeDepth)).union(candidate.prefix(candidateDepth))
                #expect(Set(images) == prefixes, "length \(length), seed \(seed): \(images)")
            }
        }
    }

    @Test func theSameSeedGivesTheSameMergeAndTheFirstPickIsTheLeadersBest() {
        var first = SplitMix64(seed: 42)
        var second = SplitMix64(seed: 42)
        let one = TeamDraft.merge(active: active, candidate: candidate, length: 6, using: &first)
        let two = TeamDraft.merge(active: active, candidate: candidate, length: 6, using: &second)
        #expect(one == two)
        #expect(one[0].rankInTeam == 0)
        #expect(one[0].image == (one[0].team == .active ? active[0] : candidate[0]))
        // When both rankings agree, the merge is that ranking whatever the coins say.
        for seed in 0..<UInt64(50) {
            var generator = SplitMix64(seed: seed)
            let same = TeamDraft.merge(active: active, candidate: active, length: 10, using: &generator)
            #expect(same.map(\.image) == active)
        }
    }
}
