import Foundation
import Simulation

/// How simulated users run against a scorer (`amc simulate users`; Docs/simulation.md, "Simulated users").
public struct UserSimulationConfiguration: Sendable {
    /// The scorer's base URL (`simulate.users.serve`). Default: `http://127.0.0.1:8080`.
    public var serveURL = URL(string: "http://127.0.0.1:8080")!
    /// The topic the click events go to (`simulate.users.topic`). Default: `clicks`.
    public var topic = "clicks"
    /// Visits (queries) per second, paced evenly (`simulate.users.rate`). Default: 10.
    public var rate = 10.0
    /// Clicks per second to pace the visits by, or nil to pace them by ``rate`` alone. When set, ``rate`` is the
    /// starting pace, and once ``ClickPace/minimumVisits`` visits were answered the visits are paced at this over the
    /// recent clicks per answered visit (``ClickPace``): users click more or less as the rankings they are shown get
    /// better or worse, and the click rate is what a click pipeline is sized by. Default: nil.
    public var clickRate: Double?
    /// Most visits in flight at once (`simulate.users.concurrency`): each visit starts at its paced time once one of
    /// these slots is free, so a scorer slower than `1 / rate` per request can still be offered the rate. 1 makes
    /// the visits one after another. Default: 1.
    public var concurrency = 1
    /// How long the users search; nil runs until stopped (`simulate.users.duration`). Default: nil.
    public var duration: Duration?
    /// How many visits to make at most; nil is no limit (the duration or a shutdown ends the run). Default: nil.
    public var maxVisits: Int?
    /// When the intent of the shifting concepts shifts, after the start; nil never (`simulate.users.shift-at`).
    /// Default: nil.
    public var shiftAt: Duration?
    /// How users examine a page and how long it is (`simulate.users.examination`, `simulate.users.position-bias`,
    /// `simulate.users.page-size`). Default: ``UserModel/init()``.
    public var model = UserModel()
    /// Seed of the users' choices (`simulate.users.seed`). Default: 1.
    public var seed: UInt64 = 1
    /// Longest a visit waits for the scorer. Default: 10 s.
    public var requestTimeout = Duration.seconds(10)

    /// The defaults.
    public init() {}
}
