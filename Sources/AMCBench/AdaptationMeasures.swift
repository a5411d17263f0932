import Foundation

/// A `pg_snapshot` in its text form `xmin:xmax:xip,…` (a version's watermark): which committed transactions it sees.
struct TransactionSnapshot: Sendable, Hashable {
    /// Every transaction id below it had finished when the snapshot was taken.
    var xmin: UInt64
    /// No transaction id at or above it had finished.
    var xmax: UInt64
    /// The ids in `xmin..<xmax` still running then.
    var inProgress: Set<UInt64>

    /// Parses `xmin:xmax:xip1,xip2` (the list may be empty); nil for anything else.
    init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]), xmin <= xmax else {
            return nil
        }
        var inProgress: Set<UInt64> = []
        for item in parts[2].split(separator: ",") {
            guard let xid = UInt64(item), xid >= xmin, xid < xmax else { return nil }
            inProgress.insert(xid)
        }
        self.xmin = xmin
        self.xmax = xmax
        self.inProgress = inProgress
    }

    /// Whether a transaction that committed (as every click's ingest transaction did) is visible in the snapshot, as
    /// `pg_visible_in_snapshot` answers for it.
    func sees(_ xid: UInt64) -> Bool {
        xid < xmin || (xid < xmax && !inProgress.contains(xid))
    }
}

/// How long a click took to reach the scoring worker: from when the user produced it to when the worker first
/// served a version whose training window includes it (a version trained on a snapshot that sees the click's
/// ingest transaction).
enum ClickToModel {
    /// A click as ingest stored it.
    struct Click: Sendable, Hashable {
        /// When the user produced it (the event's time, wall clock).
        var producedAt: Date
        /// Ingest's transaction that landed it (`click_events.change_xid`).
        var xid: UInt64
    }

    /// A version the worker served.
    struct ServedVersion: Sendable, Hashable {
        var version: Int64
        /// The snapshot it was trained on (`model_versions.watermark`).
        var watermark: TransactionSnapshot
        /// When the worker first served it.
        var servedAt: Date
    }

    /// What became of the clicks.
    struct Outcome: Sendable, Equatable {
        /// Seconds from each covered click's production to the first serving of a version that includes it.
        var seconds: [Double]
        /// Clicks no served version includes.
        var uncovered: Int

        /// Every click counted.
        var clicks: Int { seconds.count + uncovered }

        /// The nearest-rank `p`-quantile of the latency over every click, the clicks no served version includes
        /// ranked last (theirs is longer than the run left them); nil when the rank falls among those (or there
        /// are no clicks).
        func percentile(_ p: Double) -> Double? {
            guard clicks > 0 else { return nil }
            let rank = max(1, min(clicks, Int((p * Double(clicks)).rounded(.up))))
            guard rank <= seconds.count else { return nil }
            return seconds.sorted()[rank - 1]
        }
    }

    /// Matches every click with the earliest-served version whose watermark sees its transaction.
    static func match(_ clicks: [Click], _ served: [ServedVersion]) -> Outcome {
        let ordered = served.sorted { $0.servedAt < $1.servedAt }
        var outcome = Outcome(seconds: [], uncovered: 0)
        outcome.seconds.reserveCapacity(clicks.count)
        for click in clicks {
            if let first = ordered.first(where: { $0.watermark.sees(click.xid) }) {
                outcome.seconds.append(first.servedAt.timeIntervalSince(click.producedAt))
            } else {
                outcome.uncovered += 1
            }
        }
        return outcome
    }
}

/// When the served model caught up with the shift: the first version served from t₀ on whose NDCG@5 on the shifted
/// labels is within a tolerance of a reference (a full retrain on the shifted clicks).
enum AdaptationDetection {
    /// A version the worker served, and when it first did.
    struct Served: Sendable, Hashable {
        var version: Int64
        var servedAt: Date
    }

    /// A version looked at, with its quality.
    struct Evaluated: Sendable, Equatable {
        var version: Int64
        var servedAt: Date
        var ndcg5: Double
    }

    /// What the detection found.
    struct Outcome: Sendable, Equatable {
        /// The versions evaluated, in serving order (the last is the one that came within the tolerance, if any).
        var evaluated: [Evaluated]
        /// Seconds from the shift to the first serving of that version (0 when the version served at the shift
        /// already was), or nil when none came within the tolerance.
        var seconds: Double?
    }

    /// The versions to look at: the one serving at `shift` (the last first served at or before it), then every
    /// version first served after it, in serving order.
    static func candidates(_ served: [Served], shift: Date) -> [Served] {
        let ordered = served.sorted { $0.servedAt < $1.servedAt }
        let atShift = ordered.last { $0.servedAt <= shift }
        return (atShift.map { [$0] } ?? []) + ordered.filter { $0.servedAt > shift }
    }

    /// Evaluates the ``candidates(_:shift:)`` in order until one's NDCG@5 is at least `reference − tolerance`.
    /// - Parameter ndcg5: NDCG@5 of a version on the shifted labels (called once per version looked at).
    static func detect(
        _ served: [Served],
        shift: Date,
        reference: Double,
        tolerance: Double,
        ndcg5: (Int64) throws -> Double
    ) rethrows -> Outcome {
        var outcome = Outcome(evaluated: [], seconds: nil)
        for candidate in candidates(served, shift: shift) {
            let quality = try ndcg5(candidate.version)
            outcome.evaluated.append(
                Evaluated(version: candidate.version, servedAt: candidate.servedAt, ndcg5: quality)
            )
            if reference - quality <= tolerance + 1e-12 {
                outcome.seconds = max(0, candidate.servedAt.timeIntervalSince(shift))
                break
            }
        }
        return outcome
    }
}
