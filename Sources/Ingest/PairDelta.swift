import ClickLog

/// The change one batch makes to one (query, image) relevance pair.
public struct PairDelta: Sendable, Hashable {
    /// Clicks added.
    public var clicks: Int64 = 0
    /// Click events added.
    public var clickEvents: Int64 = 0
    /// Skip-above observations added (shown above a clicked image, not clicked).
    public var skips: Int64 = 0
    /// Earliest event time seen, microseconds since the epoch.
    public var firstSeenMicros = Int64.max
    /// Latest event time seen, microseconds since the epoch.
    public var lastSeenMicros = Int64.min

    public init() {}

    mutating func observe(at micros: Int64) {
        firstSeenMicros = min(firstSeenMicros, micros)
        lastSeenMicros = max(lastSeenMicros, micros)
    }
}

/// The key of a relevance pair.
public struct PairKey: Sendable, Hashable, Comparable {
    /// Normalised query.
    public var query: String
    /// Image key.
    public var image: String

    public init(query: String, image: String) {
        self.query = query
        self.image = image
    }

    public static func < (lhs: PairKey, rhs: PairKey) -> Bool {
        lhs.query != rhs.query ? lhs.query < rhs.query : lhs.image < rhs.image
    }
}

/// Folds click events into per-pair deltas — the relevance derivation of `Docs/relevance.md`, minus the final
/// formula, which PostgreSQL applies to the accumulated totals (`amc_relevance`, `amc_grade`).
public struct PairAggregator: Sendable {
    /// Deltas accumulated so far.
    public private(set) var deltas: [PairKey: PairDelta] = [:]

    public init() {}

    /// Adds one event observed at `micros`: its clicks to the clicked pair, and one skip to every image
    /// shown above the clicked one (at most one per image, however often the impressions repeat it).
    public mutating func add(_ event: ClickEvent, at micros: Int64) {
        deltas[PairKey(query: event.query, image: event.image), default: PairDelta()].apply {
            $0.clicks += Int64(event.clicks)
            $0.clickEvents += 1
            $0.observe(at: micros)
        }
        for skipped in event.skippedAbove {
            deltas[PairKey(query: event.query, image: skipped), default: PairDelta()].apply {
                $0.skips += 1
                $0.observe(at: micros)
            }
        }
    }

    /// The deltas in key order (the order rows are upserted in, so concurrent writers lock pairs in one order).
    public var sorted: [(key: PairKey, delta: PairDelta)] {
        deltas.sorted { $0.key < $1.key }.map { (key: $0.key, delta: $0.value) }
    }
}

extension PairDelta {
    fileprivate mutating func apply(_ change: (inout PairDelta) -> Void) { change(&self) }
}
