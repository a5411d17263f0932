/// All parameters of the AMC model: one contiguous row-major `[Float]` buffer per ``AMCTensor``.
///
/// The same type holds gradients and optimiser moments. It is a value type, so a snapshot can be shared
/// with scorers while a single owner trains a copy.
public struct AMCWeights: Sendable, Equatable {
    /// The dimensions these buffers were built for.
    public let configuration: ModelConfiguration

    /// `W_q` (d × hashBuckets).
    public var wq: [Float]
    /// `b_q` (d).
    public var bq: [Float]
    /// `W_k` (d × hashBuckets).
    public var wk: [Float]
    /// `b_k` (d).
    public var bk: [Float]
    /// `W_v` (d × D).
    public var wv: [Float]
    /// `b_v` (d).
    public var bv: [Float]
    /// `A_v` (a × d).
    public var av: [Float]
    /// `A_q` (a × d).
    public var aq: [Float]
    /// `w_a` (a).
    public var wa: [Float]
    /// `B_k` (a × d).
    public var bkAttention: [Float]
    /// `B_q` (a × d).
    public var bqAttention: [Float]
    /// `w_l` (a).
    public var wl: [Float]
    /// `M_v` (h × 2d).
    public var mv: [Float]
    /// `c_v` (h).
    public var cv: [Float]
    /// `m_v` (h).
    public var mvScore: [Float]
    /// `M_k` (h × 2d).
    public var mk: [Float]
    /// `c_k` (h).
    public var ck: [Float]
    /// `m_k` (h).
    public var mkScore: [Float]

    /// All-zero buffers (used for gradients and Adam moments).
    ///
    /// - Important: Every dimension of `configuration` must be positive (checked with a precondition).
    /// - Parameter configuration: The dimensions.
    public init(zerosFor configuration: ModelConfiguration) {
        let c = configuration
        precondition(
            [c.hashBuckets, c.embeddingDimension, c.attentionDimension, c.modalityDimension, c.regionDimension]
                .allSatisfy { $0 > 0 },
            "every model dimension must be positive"
        )
        self.configuration = configuration
        func zeros(_ t: AMCTensor) -> [Float] {
            let s = t.shape(configuration)
            return [Float](repeating: 0, count: s.rows * s.columns)
        }
        wq = zeros(.queryWeight)
        bq = zeros(.queryBias)
        wk = zeros(.keywordWeight)
        bk = zeros(.keywordBias)
        wv = zeros(.regionWeight)
        bv = zeros(.regionBias)
        av = zeros(.visualAttentionRegion)
        aq = zeros(.visualAttentionQuery)
        wa = zeros(.visualAttentionScore)
        bkAttention = zeros(.keywordAttentionKeyword)
        bqAttention = zeros(.keywordAttentionQuery)
        wl = zeros(.keywordAttentionScore)
        mv = zeros(.modalityVisualWeight)
        cv = zeros(.modalityVisualBias)
        mvScore = zeros(.modalityVisualScore)
        mk = zeros(.modalityKeywordWeight)
        ck = zeros(.modalityKeywordBias)
        mkScore = zeros(.modalityKeywordScore)
    }

    /// Glorot/Xavier-uniform initialisation from a seeded SplitMix64; biases are zero.
    ///
    /// Tensors are filled in ``AMCTensor`` order, each row-major, with limit `sqrt(6 / (rows + columns))`.
    /// - Parameters:
    ///   - configuration: The dimensions.
    ///   - seed: The SplitMix64 seed.
    public init(configuration: ModelConfiguration, seed: UInt64) {
        self.init(zerosFor: configuration)
        var rng = SplitMix64(seed: seed)
        for tensor in AMCTensor.allCases where !tensor.isBias {
            let s = tensor.shape(configuration)
            let limit = (6 / Float(s.rows + s.columns)).squareRoot()
            withTensor(tensor) { values in
                for i in values.indices { values[i] = rng.nextSymmetric(limit) }
            }
        }
    }

    /// Read access to one tensor by name.
    /// - Parameter tensor: The tensor.
    public subscript(tensor: AMCTensor) -> [Float] {
        switch tensor {
        case .queryWeight: wq
        case .queryBias: bq
        case .keywordWeight: wk
        case .keywordBias: bk
        case .regionWeight: wv
        case .regionBias: bv
        case .visualAttentionRegion: av
        case .visualAttentionQuery: aq
        case .visualAttentionScore: wa
        case .keywordAttentionKeyword: bkAttention
        case .keywordAttentionQuery: bqAttention
        case .keywordAttentionScore: wl
        case .modalityVisualWeight: mv
        case .modalityVisualBias: cv
        case .modalityVisualScore: mvScore
        case .modalityKeywordWeight: mk
        case .modalityKeywordBias: ck
        case .modalityKeywordScore: mkScore
        }
    }

    /// In-place access to one tensor's buffer (no copy-on-write copy).
    /// - Parameters:
    ///   - tensor: The tensor.
    ///   - body: Mutates the buffer; it must not change its length.
    /// - Returns: What `body` returns.
    public mutating func withTensor<R>(_ tensor: AMCTensor, _ body: (inout [Float]) throws -> R) rethrows -> R {
        switch tensor {
        case .queryWeight: try body(&wq)
        case .queryBias: try body(&bq)
        case .keywordWeight: try body(&wk)
        case .keywordBias: try body(&bk)
        case .regionWeight: try body(&wv)
        case .regionBias: try body(&bv)
        case .visualAttentionRegion: try body(&av)
        case .visualAttentionQuery: try body(&aq)
        case .visualAttentionScore: try body(&wa)
        case .keywordAttentionKeyword: try body(&bkAttention)
        case .keywordAttentionQuery: try body(&bqAttention)
        case .keywordAttentionScore: try body(&wl)
        case .modalityVisualWeight: try body(&mv)
        case .modalityVisualBias: try body(&cv)
        case .modalityVisualScore: try body(&mvScore)
        case .modalityKeywordWeight: try body(&mk)
        case .modalityKeywordBias: try body(&ck)
        case .modalityKeywordScore: try body(&mkScore)
        }
    }
}

extension AMCWeights {
    /// Whether every parameter is finite (no NaN, no ±∞), e.g. to reject a diverged training run.
    public var isFinite: Bool {
        for tensor in AMCTensor.allCases {
            for value in self[tensor] where !value.isFinite { return false }
        }
        return true
    }
}
