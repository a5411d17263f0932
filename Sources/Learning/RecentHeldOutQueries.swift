import Evaluation

/// The held-out queries a fine-tune is judged on, and the rolling memory they are topped up from: the latest judged
/// list of each held-out query a window brought clicks for, the most recent window first.
///
/// A window of a few seconds brings clicks for a handful of held-out queries, too few to tell a candidate from its
/// parent; the gate therefore judges every held-out query of the window (graded by the window's clicks) and, while
/// they are fewer than `learn.gate.min-queries`, the most recent held-out queries of earlier windows (graded by the
/// clicks of the latest window that had them). Recent intent dominates (only recent windows' clicks grade), and the
/// set is large enough for the paired comparison (``GateRule``). Memory only, bounded by its capacity; reading
/// nothing from the database, it keeps a cycle's cost the window's.
struct RecentHeldOutQueries: Sendable, Hashable {
    /// The most queries remembered (`learn.gate.min-queries`: more are never needed).
    var capacity: Int
    /// The remembered queries, the most recent window's first.
    private(set) var queries: [JudgedQuery] = []

    /// An empty memory.
    init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// The gate's queries for a window: each of the window's queries that has a relevant image, then the most recent
    /// remembered queries that are not in the window, until there are `minimum` (or no more are remembered).
    /// - Parameters:
    ///   - window: The window's held-out queries, graded by the window's clicks.
    ///   - minimum: The fewest queries wanted (`learn.gate.min-queries`).
    /// - Returns: The queries, and how many came from the window and from earlier windows.
    func composing(
        window: [JudgedQuery],
        minimum: Int
    ) -> (queries: [JudgedQuery], fromWindow: Int, fromEarlier: Int) {
        let judged = window.filter(Self.hasRelevantImage)
        var composed = judged
        var seen = Set(judged.map(\.query))
        for query in queries where composed.count < minimum && seen.insert(query.query).inserted {
            composed.append(query)
        }
        return (composed, judged.count, composed.count - judged.count)
    }

    /// Remembers a window's queries that have a relevant image, before every earlier one (a query's older list is
    /// replaced), keeping the ``capacity`` most recent.
    mutating func remember(_ window: [JudgedQuery]) {
        let judged = window.filter(Self.hasRelevantImage)
        let fresh = Set(judged.map(\.query))
        queries = Array((judged + queries.filter { !fresh.contains($0.query) }).prefix(capacity))
    }

    /// Whether the evaluator counts a query (it skips those without a gain above 0).
    static func hasRelevantImage(_ query: JudgedQuery) -> Bool {
        query.gains.contains { $0 > 0 }
    }
}
