/// A human relevance grade of one (query, image) pair, as in Clickture's `DevSetLabel.tsv` (design §3).
///
/// The raw value is the grade's gain in NDCG: Excellent = 3, Good = 2, Bad = 0.
public enum RelevanceGrade: Int, Sendable {
    /// Not relevant (gain 0).
    case bad = 0
    /// Relevant (gain 2).
    case good = 2
    /// Highly relevant (gain 3).
    case excellent = 3

    /// Reads a grade label.
    /// - Parameter label: `Excellent`, `Good` or `Bad`, exactly (case-sensitive, no surrounding spaces).
    public init?(label: String) {
        switch label {
        case "Excellent": self = .excellent
        case "Good": self = .good
        case "Bad": self = .bad
        default: return nil
        }
    }

    /// The label as written in label files (`Excellent`, `Good`, `Bad`).
    public var label: String {
        switch self {
        case .excellent: "Excellent"
        case .good: "Good"
        case .bad: "Bad"
        }
    }

    /// The gain used by the ranking metrics (the raw value).
    public var gain: Int { rawValue }
}
