import Foundation

/// Where a dead letter stands (`dead_letters.state`, migration `0003`).
public struct DeadLetterState: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// Not ingested: never replayed, or every replay so far found it still invalid.
    public static let pending = DeadLetterState(rawValue: "pending")
    /// A replay landed its event; the row is kept as provenance.
    public static let replayed = DeadLetterState(rawValue: "replayed")
    /// An event at its Kafka position was already in `click_events`; a replay had nothing to add.
    public static let duplicate = DeadLetterState(rawValue: "duplicate")
    /// Deleted by a purge; only its actions remain (never stored in `dead_letters`).
    public static let purged = DeadLetterState(rawValue: "purged")
}

/// One dead letter without its bytes: a row of `amc deadletters list`.
public struct DeadLetterSummary: Sendable, Hashable {
    public var id: Int64
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// When ingest wrote it (`created_at`).
    public var receivedAt: Date
    /// The machine-readable reason (`ClickLogError.Reason`, or `rejected_by_database`).
    public var reasonCode: String
    /// The human-readable reason.
    public var reason: String
    public var state: DeadLetterState
    /// When a replay resolved it (state `replayed` or `duplicate`).
    public var resolvedAt: Date?
    /// Size of the raw message, in bytes.
    public var size: Int
}

/// One dead letter in full: `amc deadletters show`.
public struct DeadLetterDetail: Sendable, Hashable {
    public var summary: DeadLetterSummary
    /// The Kafka message key, nil when the message had none.
    public var key: [UInt8]?
    /// The message exactly as it was read from Kafka.
    public var raw: [UInt8]
    /// The Kafka message timestamp, when the message had one and ingest recorded it.
    public var messageTimestamp: Date?
}

/// One row of the append-only `dead_letter_actions` log.
public struct DeadLetterAction: Sendable, Hashable {
    public var id: Int64
    public var deadLetterID: Int64
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// `replay` or `purge`.
    public var action: String
    /// `replayed`, `still_invalid`, `duplicate`, `rejected` (replay) or `purged` (purge).
    public var outcome: String
    /// The current parser's reason (`still_invalid`), or the purged letter's reason code.
    public var reasonCode: String?
    public var detail: String
    public var actor: String
    public var at: Date
}

/// Which dead letters `list`, `replay --all` and their counts consider.
public struct DeadLetterFilter: Sendable, Hashable {
    /// Only this state; nil for every state. Default: ``DeadLetterState/pending``.
    public var state: DeadLetterState? = .pending
    /// Only this reason code. Default: any.
    public var reasonCode: String?
    /// Only this topic. Default: any.
    public var topic: String?

    public init(state: DeadLetterState? = .pending, reasonCode: String? = nil, topic: String? = nil) {
        self.state = state
        self.reasonCode = reasonCode
        self.topic = topic
    }
}

/// What a purge deleted (or, previewed, would delete): counts by state and the receive-time range.
public struct DeadLetterPurgeSummary: Sendable, Hashable {
    /// Dead letters per state.
    public var byState: [DeadLetterState: Int] = [:]
    /// Oldest and newest receive time among them.
    public var oldest: Date?
    public var newest: Date?

    public init() {}

    /// Every dead letter counted.
    public var total: Int { byState.values.reduce(0, +) }

    mutating func add(state: DeadLetterState, count: Int, oldest: Date, newest: Date) {
        byState[state, default: 0] += count
        self.oldest = min(self.oldest ?? oldest, oldest)
        self.newest = max(self.newest ?? newest, newest)
    }
}
