/// How a simulated user looks at a ranked page and decides what to click (Docs/simulation.md, "Simulated users").
///
/// The click decision is always the world's truth (``World/attractiveness(image:concept:intent:)`` for the query's
/// concept and its current intent); the model only says which results the user examines.
public struct UserModel: Sendable, Hashable {
    /// Which results of the page a user examines.
    public enum Examination: Sendable, Hashable {
        /// The position-based model: rank `r` (zero-based) is examined with probability `1 / (r + 1)^exponent`,
        /// independently of the other ranks and of what the user clicked; an examined result is clicked with its
        /// attractiveness. A page may get several clicks or none.
        case positionBased(exponent: Double)
        /// The cascade model: the user examines the page top down, clicks an examined result with its
        /// attractiveness and stops at the first click. A page gets at most one click.
        case cascade
    }

    /// Which results the user examines. Default: the position-based model with the world's exponent, 0.7.
    public var examination = Examination.positionBased(exponent: 0.7)
    /// How many results of the ranking the page shows (the request's `top`); nil shows every candidate.
    /// Default: nil (the world's 20 candidates of a query, as the offline click log shows them).
    public var pageSize: Int?

    /// The defaults.
    public init() {}

    /// The probability that a position-based user examines `rank`, or nil for the cascade model (whose examination
    /// depends on what the user saw above).
    /// - Parameter rank: Zero-based rank on the page.
    /// - Returns: `1 / (rank + 1)^exponent`.
    public func examinationProbability(rank: Int) -> Double? {
        guard case .positionBased(let exponent) = examination else { return nil }
        return 1 / Double(rank + 1).power(exponent)
    }

    /// A description of the first inconsistency, or nil when users can be simulated with this model.
    public var problem: String? {
        if case .positionBased(let exponent) = examination, !exponent.isFinite || exponent < 0 {
            return "the position-bias exponent must be ≥ 0"
        }
        if let pageSize, pageSize < 1 { return "the page size must be at least 1" }
        return nil
    }
}
