import Evaluation
import Foundation
import Postgres
import Registry

/// What `amc model compare N` shows: every online experiment of candidate version N with its figures so far
/// (Docs/online.md, "Comparing a candidate").
public struct OnlineComparison: Sendable, Hashable, Codable {
    /// The candidate version.
    public var candidate: Int64
    /// The version active now.
    public var activeVersion: Int64?
    /// The significance level of the interleaving verdicts.
    public var alpha: Double
    /// The width of the shadow agreement's time buckets, in seconds.
    public var bucketSeconds: Double
    /// The candidate's experiments, oldest first.
    public var experiments: [Experiment]

    /// One experiment and its figures.
    public struct Experiment: Sendable, Hashable, Codable {
        /// The experiment's row.
        public var experiment: OnlineExperiment
        /// Agreement with the served version (shadow experiments).
        public var shadow: ShadowAgreement?
        /// Wins, losses and ties (interleaving experiments).
        public var interleaving: InterleavingResult?
    }

    /// How the candidate's shadow rankings agree with the served ones: means over the paired rankings.
    public struct ShadowAgreement: Sendable, Hashable, Codable {
        /// Shadow rankings paired with their served ranking.
        public var pairedRankings: Int
        /// Mean top-5 overlap (``RankingAgreement/topOverlap(_:_:k:)``); nil without a pair.
        public var top5Overlap: Double?
        /// Mean Kendall τ over the common images (``RankingAgreement/kendallTau(_:_:)``); nil when no pair has two.
        public var kendallTau: Double?
        /// Pairs with a defined τ (at least two common images).
        public var tauRankings: Int
        /// The same per time bucket of served time (UTC, aligned to the Unix epoch), oldest first; only buckets with
        /// pairs.
        public var buckets: [Bucket]
    }

    /// One time bucket of shadow agreement.
    public struct Bucket: Sendable, Hashable, Codable {
        /// The bucket's start.
        public var start: Date
        /// Shadow rankings paired in it.
        public var pairedRankings: Int
        /// Mean top-5 overlap in it.
        public var top5Overlap: Double?
        /// Mean Kendall τ in it.
        public var kendallTau: Double?
    }

    /// The interleaving figures: every credited impression, one sign test over all of them.
    public struct InterleavingResult: Sendable, Hashable, Codable {
        /// Interleaved rankings served.
        public var rankings: Int
        /// Of those, rankings with at least one click.
        public var clickedRankings: Int
        /// The candidate's wins, losses and ties (clicked rankings whose clicks counted for a team).
        public var wins: Int
        public var losses: Int
        public var ties: Int
        /// The two-sided exact sign test's p-value (ties dropped).
        public var pValue: Double
        /// `wins` or `loses` when p ≤ α, else `undecided`.
        public var verdict: SequentialSignTest.Verdict
        /// The active versions the interleaved rankings were merged against.
        public var servedAgainst: [Int64]
    }

    /// Reads and computes the comparison now.
    /// - Parameters:
    ///   - candidate: The candidate version.
    ///   - connection: A session that reads the experiments, rankings and click events (the operator's).
    ///   - bucket: Width of the shadow agreement's time buckets.
    ///   - alpha: The interleaving verdict's significance level.
    /// - Throws: ``RegistryError`` when the version does not exist; database errors.
    public static func load(
        candidate: Int64,
        connection: PostgresConnection,
        bucket: Duration,
        alpha: Double
    ) throws -> OnlineComparison {
        let registry = ModelRegistry(connection: connection)
        guard try registry.version(candidate) != nil else {
            throw LearnerError("model version \(candidate) does not exist")
        }
        let store = OnlineComparisonStore(connection: connection)
        let bucketSeconds = bucket.secondsValue
        var experiments: [Experiment] = []
        for experiment in try ExperimentStore(connection: connection).experiments(candidate: candidate) {
            var entry = Experiment(experiment: experiment)
            switch experiment.kind {
            case .shadow:
                entry.shadow = agreement(try store.shadowPairs(of: experiment.id), bucketSeconds: bucketSeconds)
            case .interleave:
                let impressions = try store.interleavedImpressions(of: experiment.id, startedAt: experiment.startedAt)
                entry.interleaving = result(
                    impressions,
                    rankings: try store.interleavedRankings(of: experiment.id),
                    alpha: alpha
                )
            }
            experiments.append(entry)
        }
        return OnlineComparison(
            candidate: candidate,
            activeVersion: try registry.activeVersion(),
            alpha: alpha,
            bucketSeconds: bucketSeconds,
            experiments: experiments
        )
    }

    /// Shadow agreement over paired rankings, overall and per bucket.
    static func agreement(_ pairs: [ShadowPair], bucketSeconds: Double) -> ShadowAgreement {
        var overall = Means()
        var buckets: [Double: Means] = [:]
        for pair in pairs {
            let overlap = RankingAgreement.topOverlap(pair.served, pair.shadow, k: 5)
            let tau = RankingAgreement.kendallTau(pair.served, pair.shadow)
            let start = (pair.servedAt.timeIntervalSince1970 / bucketSeconds).rounded(.down) * bucketSeconds
            overall.add(overlap: overlap, tau: tau)
            buckets[start, default: Means()].add(overlap: overlap, tau: tau)
        }
        return ShadowAgreement(
            pairedRankings: overall.pairs,
            top5Overlap: overall.overlap,
            kendallTau: overall.tau,
            tauRankings: overall.tauCount,
            buckets: buckets.sorted { $0.key < $1.key }.map { start, means in
                Bucket(
                    start: Date(timeIntervalSince1970: start),
                    pairedRankings: means.pairs,
                    top5Overlap: means.overlap,
                    kendallTau: means.tau
                )
            }
        )
    }

    /// The interleaving figures of clicked rankings.
    static func result(_ impressions: [InterleavedImpression], rankings: Int, alpha: Double) -> InterleavingResult {
        let tally = InterleavingTally(
            impressions.compactMap { ImpressionCredit.of(images: $0.images, teams: $0.teams, clicked: $0.clicked) }
        )
        let pValue = tally.pValue
        let verdict: SequentialSignTest.Verdict =
            pValue <= alpha && tally.wins != tally.losses
            ? (tally.wins > tally.losses ? .candidateWins : .candidateLoses) : .undecided
        return InterleavingResult(
            rankings: rankings,
            clickedRankings: impressions.count,
            wins: tally.wins,
            losses: tally.losses,
            ties: tally.ties,
            pValue: pValue,
            verdict: verdict,
            servedAgainst: Set(impressions.map(\.servedVersion)).sorted()
        )
    }
}

/// Running means of top-5 overlap and τ.
private struct Means {
    var pairs = 0
    var overlapSum = 0.0
    var overlapCount = 0
    var tauSum = 0.0
    var tauCount = 0

    mutating func add(overlap: Double?, tau: Double?) {
        pairs += 1
        if let overlap {
            overlapSum += overlap
            overlapCount += 1
        }
        if let tau {
            tauSum += tau
            tauCount += 1
        }
    }

    var overlap: Double? { overlapCount == 0 ? nil : overlapSum / Double(overlapCount) }
    var tau: Double? { tauCount == 0 ? nil : tauSum / Double(tauCount) }
}
