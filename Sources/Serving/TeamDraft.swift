/// Team-draft interleaving (Radlinski, Kurup and Joachims, "How does clickthrough data reflect retrieval quality?",
/// CIKM 2008): two rankings merged into one, every position credited to the team whose ranking placed it there.
///
/// Each round a fair coin decides which team picks first; then each team in turn adds its highest-ranked image not
/// yet in the merged list. A team whose ranking has nothing left to add skips its turn. The merge stops at `length`
/// images or when both rankings are used up. A click on a position is credited to the team that placed it; the
/// team with more clicks on a ranking wins it (`Docs/online.md`). Pure and seeded: the same rankings and generator
/// state give the same merge.
public enum TeamDraft {
    /// The two teams of an interleaved ranking (the values of `rankings.teams`).
    public enum Team: String, Sendable, Hashable, CaseIterable {
        /// The active version's ranking.
        case active
        /// The experiment's candidate version's ranking.
        case candidate
    }

    /// One position of a merged ranking.
    public struct Pick: Sendable, Hashable {
        /// The image.
        public var image: String
        /// The team that placed it.
        public var team: Team
        /// Its position in that team's ranking (zero-based).
        public var rankInTeam: Int
    }

    /// Merges two rankings by team draft.
    /// - Parameters:
    ///   - active: The active team's ranking, best first (keys distinct).
    ///   - candidate: The candidate team's ranking, best first (keys distinct).
    ///   - length: Most images in the merged list.
    ///   - generator: Source of the coin flips (one per round).
    /// - Returns: The merged ranking, each image at most once: a permutation of a prefix-closed part of the union of
    ///   both rankings, at most `length` long.
    public static func merge(
        active: [String],
        candidate: [String],
        length: Int,
        using generator: inout some RandomNumberGenerator
    ) -> [Pick] {
        let limit = min(max(0, length), Set(active).union(candidate).count)
        var merged: [Pick] = []
        merged.reserveCapacity(limit)
        var taken = Set<String>(minimumCapacity: limit)
        var next: [Team: Int] = [.active: 0, .candidate: 0]
        func ranking(_ team: Team) -> [String] { team == .active ? active : candidate }
        /// Adds `team`'s best image not yet taken, if it has one left.
        func pick(_ team: Team) {
            let list = ranking(team)
            var index = next[team, default: 0]
            while index < list.count, taken.contains(list[index]) { index += 1 }
            next[team] = index + 1
            guard index < list.count else { return }
            taken.insert(list[index])
            merged.append(Pick(image: list[index], team: team, rankInTeam: index))
        }
        while merged.count < limit {
            let first: Team = Bool.random(using: &generator) ? .active : .candidate
            for team in [first, first == .active ? .candidate : .active] where merged.count < limit {
                pick(team)
            }
        }
        return merged
    }
}
