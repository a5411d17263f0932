/// The sign test applied repeatedly to a growing interleaving experiment, with the error rate held at α overall.
///
/// Checking a p-value after every new impression and stopping at the first one below α ("peeking") makes a false
/// verdict far likelier than α. This rule looks only at fixed sample sizes, the first N·2ᵏ credited impressions in
/// the order they were served (N = the minimum sample; looks k = 0, 1, 2, …), and spends α over the looks: look k
/// decides when its two-sided sign test gives p ≤ α/2^(k+1). The thresholds sum to less than α, so by the union
/// bound the chance of any false verdict, over however many looks, stays below α. Checking again before the next
/// look's sample is complete re-reads the same prefixes and gives the same answer: checking often adds no looks.
public struct SequentialSignTest: Sendable, Hashable {
    /// Credited impressions of the first look (N). Every look's sample is N·2ᵏ.
    public var minImpressions: Int
    /// The overall false-verdict rate α, spent as α/2, α/4, … over the looks.
    public var alpha: Double

    /// - Parameters:
    ///   - minImpressions: N, at least 1.
    ///   - alpha: α in (0, 1).
    public init(minImpressions: Int, alpha: Double) {
        self.minImpressions = max(1, minImpressions)
        self.alpha = alpha
    }

    /// What the rule concludes.
    public enum Verdict: String, Sendable, Hashable, Codable {
        /// The candidate won significantly.
        case candidateWins = "wins"
        /// The candidate lost significantly.
        case candidateLoses = "loses"
        /// No look so far was significant (or none is complete).
        case undecided
    }

    /// The outcome, with the figures of the look that decided (or of the latest complete look).
    public struct Judgement: Sendable, Hashable, Codable {
        /// The verdict.
        public var verdict: Verdict
        /// Zero-based index of the deciding (or latest complete) look; nil when no look is complete.
        public var look: Int?
        /// The tally over that look's sample (its first N·2ᵏ credited impressions); over all of them when no look
        /// is complete.
        public var tally: InterleavingTally
        /// The sign test's p-value of that tally.
        public var pValue: Double
        /// The threshold of that look, α/2^(k+1) (α/2 when no look is complete).
        public var threshold: Double
        /// Every credited impression so far.
        public var impressions: Int
    }

    /// Judges the credited impressions so far.
    /// - Parameter credits: One credit per credited impression, in the order their rankings were served.
    /// - Returns: The first look that decides, else the latest complete look, undecided.
    public func judge(_ credits: [ImpressionCredit]) -> Judgement {
        let all = InterleavingTally(credits)
        var judgement = Judgement(
            verdict: .undecided,
            look: nil,
            tally: all,
            pValue: all.pValue,
            threshold: alpha / 2,
            impressions: credits.count
        )
        var look = 0
        var threshold = alpha / 2
        var size = minImpressions
        var tally = InterleavingTally()
        var counted = 0
        while size <= credits.count {
            for credit in credits[counted..<size] { tally.add(credit) }
            counted = size
            let pValue = tally.pValue
            judgement.look = look
            judgement.tally = tally
            judgement.pValue = pValue
            judgement.threshold = threshold
            if pValue <= threshold, tally.wins != tally.losses {
                judgement.verdict = tally.wins > tally.losses ? .candidateWins : .candidateLoses
                return judgement
            }
            let (next, overflow) = size.multipliedReportingOverflow(by: 2)
            if overflow { break }
            look += 1
            threshold /= 2
            size = next
        }
        return judgement
    }
}
