/// What simulated users saw and clicked: pages, impressions and clicks by position.
public struct SimulatedTrafficTally: Sendable, Hashable {
    /// Pages shown (answered visits).
    public private(set) var pages = 0
    /// Images shown, over all pages.
    public private(set) var impressions = 0
    /// Clicks, over all pages.
    public private(set) var clicks = 0
    /// Pages that showed a result at each rank.
    public private(set) var shownAtRank: [Int] = []
    /// Clicks at each rank.
    public private(set) var clicksAtRank: [Int] = []
    private var clickedPositionSum = 0

    /// Nothing seen yet.
    public init() {}

    /// Counts one page of `length` results and its clicks.
    public mutating func record(pageLength length: Int, clicks pageClicks: [SimulatedUsers.PageClick]) {
        pages += 1
        impressions += length
        if shownAtRank.count < length {
            shownAtRank += [Int](repeating: 0, count: length - shownAtRank.count)
            clicksAtRank += [Int](repeating: 0, count: length - clicksAtRank.count)
        }
        for rank in 0..<length { shownAtRank[rank] += 1 }
        for click in pageClicks where click.position < length {
            clicks += 1
            clicksAtRank[click.position] += 1
            clickedPositionSum += click.position
        }
    }

    /// The mean zero-based rank of a click, or nil without clicks.
    public var meanClickedPosition: Double? {
        clicks > 0 ? Double(clickedPositionSum) / Double(clicks) : nil
    }

    /// Clicks at `rank` per page that showed it (0 when none did).
    public func clickThrough(rank: Int) -> Double {
        guard shownAtRank.indices.contains(rank), shownAtRank[rank] > 0 else { return 0 }
        return Double(clicksAtRank[rank]) / Double(shownAtRank[rank])
    }
}
