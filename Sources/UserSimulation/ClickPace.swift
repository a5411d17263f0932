/// The clicks per answered visit of the recent visits, and the pace between visits that turns them into a click
/// rate (``UserSimulationConfiguration/clickRate``).
///
/// The mean is exact over the first ``window`` visits, then exponentially weighted with weight `1 / window` for the
/// newest, so it follows what the users click now: after an intent shift the same rankings get fewer clicks, and a
/// mean over the whole run would lag behind and pace too slowly.
public struct ClickPace: Sendable {
    /// How many visits the mean is taken over, about.
    public static let window = 1000
    /// How many answered visits the mean needs before it paces the visits.
    public static let minimumVisits = 200

    /// Visits answered so far.
    public private(set) var visits = 0
    /// The recent clicks per visit.
    public private(set) var clicksPerVisit = 0.0

    /// Nothing answered yet.
    public init() {}

    /// Counts an answered visit and its clicks.
    public mutating func record(clicks: Int) {
        visits += 1
        let weight = 1 / Double(min(visits, Self.window))
        clicksPerVisit += weight * (Double(clicks) - clicksPerVisit)
    }

    /// The interval between visits that makes `clickRate` clicks per second at the recent clicks per visit, or nil
    /// before ``minimumVisits`` visits were answered or while they bring no clicks.
    public func interval(clickRate: Double) -> Duration? {
        guard visits >= Self.minimumVisits, clicksPerVisit > 0, clickRate > 0 else { return nil }
        return .seconds(clicksPerVisit / clickRate)
    }
}
