import Simulation

/// What a run of simulated users did.
public struct UserSimulationReport: Sendable {
    /// Pages shown and clicked.
    public var tally = SimulatedTrafficTally()
    /// Visits whose scoring request failed (no page shown, no click).
    public var failedRequests = 0
    /// The last failure's description, if any.
    public var lastFailure: String?
    /// Click events handed to the producer.
    public var produced = 0
    /// Click events whose delivery failed.
    public var notDelivered = 0
    /// Visits made before the intent shift, or nil when it did not happen during the run.
    public var visitsBeforeShift: Int?

    /// Nothing done yet.
    public init() {}

    /// Visits made (answered or not).
    public var visits: Int { tally.pages + failedRequests }

    /// A short summary: queries, impressions, clicks, mean clicked position and click-through by position.
    public var summaryLines: [String] {
        var lines = [
            "simulated users: \(visits) queries (\(failedRequests) failed), \(tally.impressions) impressions, "
                + "\(tally.clicks) clicks, \(produced - notDelivered) click events delivered"
                + (notDelivered > 0 ? " (\(notDelivered) not delivered)" : "")
        ]
        let mean = tally.meanClickedPosition.map { Self.fixed($0, 2) } ?? "-"
        let shift = visitsBeforeShift.map { "intent shift after \($0) queries" } ?? "no intent shift"
        lines.append("mean clicked position \(mean) (zero-based); \(shift)")
        if !tally.shownAtRank.isEmpty {
            let rates = tally.shownAtRank.indices.map { "\($0):\(Self.fixed(tally.clickThrough(rank: $0), 3))" }
            lines.append("click-through by position: " + rates.joined(separator: " "))
        }
        if let lastFailure { lines.append("last failed request: \(lastFailure)") }
        return lines
    }

    /// `value` with `digits` decimals (no Foundation formatting).
    static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = Int((value * scale).rounded())
        let whole = String(scaled / Int(scale))
        let fraction = String(scaled % Int(scale))
        return whole + "." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
}
