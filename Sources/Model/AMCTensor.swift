/// The parameter tensors of the AMC model, in their fixed serialisation order.
public enum AMCTensor: String, CaseIterable, Sendable, Hashable {
    /// `W_q` (d × hashBuckets): query projection.
    case queryWeight = "W_q"
    /// `b_q` (d): query bias.
    case queryBias = "b_q"
    /// `W_k` (d × hashBuckets): keyword projection.
    case keywordWeight = "W_k"
    /// `b_k` (d): keyword bias.
    case keywordBias = "b_k"
    /// `W_v` (d × D): region projection.
    case regionWeight = "W_v"
    /// `b_v` (d): region bias.
    case regionBias = "b_v"
    /// `A_v` (a × d): VAN region term.
    case visualAttentionRegion = "A_v"
    /// `A_q` (a × d): VAN query term.
    case visualAttentionQuery = "A_q"
    /// `w_a` (a): VAN scoring vector.
    case visualAttentionScore = "w_a"
    /// `B_k` (a × d): LAN keyword term.
    case keywordAttentionKeyword = "B_k"
    /// `B_q` (a × d): LAN query term.
    case keywordAttentionQuery = "B_q"
    /// `w_l` (a): LAN scoring vector.
    case keywordAttentionScore = "w_l"
    /// `M_v` (h × 2d): MTN visual branch.
    case modalityVisualWeight = "M_v"
    /// `c_v` (h): MTN visual bias.
    case modalityVisualBias = "c_v"
    /// `m_v` (h): MTN visual scoring vector.
    case modalityVisualScore = "m_v"
    /// `M_k` (h × 2d): MTN keyword branch.
    case modalityKeywordWeight = "M_k"
    /// `c_k` (h): MTN keyword bias.
    case modalityKeywordBias = "c_k"
    /// `m_k` (h): MTN keyword scoring vector.
    case modalityKeywordScore = "m_k"

    /// Whether this tensor belongs to the modality attention network (the only tensors online updates touch).
    public var isModalityAttention: Bool {
        switch self {
        case .modalityVisualWeight, .modalityVisualBias, .modalityVisualScore,
            .modalityKeywordWeight, .modalityKeywordBias, .modalityKeywordScore:
            true
        default:
            false
        }
    }

    /// Whether the tensor is a bias (initialised to zero rather than Glorot uniform).
    public var isBias: Bool {
        switch self {
        case .queryBias, .keywordBias, .regionBias, .modalityVisualBias, .modalityKeywordBias: true
        default: false
        }
    }

    /// The (rows, columns) shape under a configuration; vectors have one column.
    /// - Parameter c: The configuration.
    /// - Returns: Row-major shape.
    public func shape(_ c: ModelConfiguration) -> (rows: Int, columns: Int) {
        let d = c.embeddingDimension
        let a = c.attentionDimension
        let h = c.modalityDimension
        switch self {
        case .queryWeight, .keywordWeight: return (d, c.hashBuckets)
        case .regionWeight: return (d, c.regionDimension)
        case .queryBias, .keywordBias, .regionBias: return (d, 1)
        case .visualAttentionRegion, .visualAttentionQuery, .keywordAttentionKeyword, .keywordAttentionQuery:
            return (a, d)
        case .visualAttentionScore, .keywordAttentionScore: return (a, 1)
        case .modalityVisualWeight, .modalityKeywordWeight: return (h, 2 * d)
        case .modalityVisualBias, .modalityVisualScore, .modalityKeywordBias, .modalityKeywordScore: return (h, 1)
        }
    }
}
