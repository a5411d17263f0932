import Foundation
import Simulation

/// One visit the scorer answered, as ``UserSimulationDriver`` hands it to its observer once its click events went to
/// the producer.
public struct AnsweredVisit: Sendable {
    /// The visit's sequence number (``SimulatedUsers/visit(_:)``).
    public var number: Int
    /// When the scorer's answer arrived (wall clock).
    public var answeredAt: Date
    /// The version that ranked the page (the response's `model_version`).
    public var modelVersion: Int64?
    /// Whether the user searched with the shifted intent.
    public var shifted: Bool
    /// The page the user was shown, best first.
    public var page: [String]
    /// What the user clicked on it.
    public var clicks: [SimulatedUsers.PageClick]
    /// The JSON click events produced, one per click, in the clicks' order.
    public var events: [[UInt8]]

    /// A visit with all of its fields.
    public init(
        number: Int,
        answeredAt: Date,
        modelVersion: Int64?,
        shifted: Bool,
        page: [String],
        clicks: [SimulatedUsers.PageClick],
        events: [[UInt8]]
    ) {
        self.number = number
        self.answeredAt = answeredAt
        self.modelVersion = modelVersion
        self.shifted = shifted
        self.page = page
        self.clicks = clicks
        self.events = events
    }
}
