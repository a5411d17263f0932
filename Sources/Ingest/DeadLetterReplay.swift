/// Which dead letters a replay takes: the given ids, or every pending one matching a filter.
public enum DeadLetterReplaySelection: Sendable, Hashable {
    /// These dead letters (those not pending are reported, not replayed).
    case ids([Int64])
    /// Every pending dead letter matching the filter (its `state` is ignored: only pending ones are replayed).
    case pending(DeadLetterFilter)
}

/// What a replay did with one selected dead letter.
public struct DeadLetterReplayOutcome: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    // Recorded in `dead_letter_actions`:
    /// Valid now: its event and pair deltas landed; the dead letter is now `replayed`.
    public static let replayed = DeadLetterReplayOutcome(rawValue: "replayed")
    /// The current parser refuses it too; it stays `pending`, the new reason is in the action.
    public static let stillInvalid = DeadLetterReplayOutcome(rawValue: "still_invalid")
    /// An event at its position is already in `click_events`; nothing was added; it is now `duplicate`.
    public static let duplicate = DeadLetterReplayOutcome(rawValue: "duplicate")
    /// Valid, but the database refused the event (SQLSTATE class 22, 23 or 54); it stays `pending`.
    public static let rejected = DeadLetterReplayOutcome(rawValue: "rejected")

    // Reported only (nothing happened to the row):
    /// No dead letter has this id (never existed, or purged).
    public static let notFound = DeadLetterReplayOutcome(rawValue: "not_found")
    /// Already `replayed` or `duplicate`: replaying again is a no-op.
    public static let alreadyResolved = DeadLetterReplayOutcome(rawValue: "already_resolved")
    /// Pending, but another replay holds it right now (it is that replay's to resolve).
    public static let busy = DeadLetterReplayOutcome(rawValue: "busy")
}

/// One selected dead letter and what the replay did with it.
public struct DeadLetterReplayResult: Sendable, Hashable {
    public var id: Int64
    public var outcome: DeadLetterReplayOutcome
    /// The dead letter's state after the replay (nil when not found).
    public var state: DeadLetterState?
    /// The current parser's reason code (`still_invalid`).
    public var reasonCode: String?
    /// What happened, in words (the action's `detail`).
    public var detail: String
}

/// Everything one replay did, in dead-letter id order.
public struct DeadLetterReplayReport: Sendable, Hashable {
    public var results: [DeadLetterReplayResult] = []
    /// Events that landed in `click_events`.
    public var events = 0
    /// Pair deltas merged into `relevance_pairs` (one per pair per transaction).
    public var pairDeltas = 0
    /// Transactions committed.
    public var transactions = 0

    public init() {}

    /// How many results had `outcome`.
    public func count(_ outcome: DeadLetterReplayOutcome) -> Int {
        results.count(where: { $0.outcome == outcome })
    }
}
