/// Offsets of the gradient tensors inside one contiguous gradient buffer.
///
/// The MTN block comes first, then the other small tensors (row-major, like ``AMCWeights``), then `W_q` and
/// `W_k` stored transposed (`H × d`, one contiguous `d`-vector per bucket) so a sparse input's gradient touches
/// whole contiguous columns. A buffer for `.modalityAttentionOnly` holds only the MTN block.
struct GradientLayout: Sendable, Hashable {
    let mv: Int
    let cv: Int
    let mvScore: Int
    let mk: Int
    let ck: Int
    let mkScore: Int
    let wv: Int
    let bv: Int
    let av: Int
    let aq: Int
    let wa: Int
    let bka: Int
    let bqa: Int
    let wl: Int
    let bq: Int
    let bk: Int
    /// `∂L/∂W_qᵀ` (H × d).
    let wqT: Int
    /// `∂L/∂W_kᵀ` (H × d).
    let wkT: Int
    /// End of the MTN block.
    let mtnCount: Int
    /// End of the small (dense) tensors.
    let smallCount: Int
    let count: Int

    init(_ c: ModelConfiguration) {
        let (d, a, h, dim, buckets) = (
            c.embeddingDimension, c.attentionDimension, c.modalityDimension, c.regionDimension, c.hashBuckets
        )
        var o = 0
        func next(_ size: Int) -> Int {
            defer { o += size }
            return o
        }
        mv = next(h * 2 * d)
        cv = next(h)
        mvScore = next(h)
        mk = next(h * 2 * d)
        ck = next(h)
        mkScore = next(h)
        mtnCount = o
        wv = next(d * dim)
        bv = next(d)
        av = next(a * d)
        aq = next(a * d)
        wa = next(a)
        bka = next(a * d)
        bqa = next(a * d)
        wl = next(a)
        bq = next(d)
        bk = next(d)
        smallCount = o
        wqT = next(buckets * d)
        wkT = next(buckets * d)
        count = o
    }

    /// The start of a tensor's gradient (transposed for `W_q` and `W_k`).
    func offset(_ tensor: AMCTensor) -> Int {
        switch tensor {
        case .queryWeight: wqT
        case .queryBias: bq
        case .keywordWeight: wkT
        case .keywordBias: bk
        case .regionWeight: wv
        case .regionBias: bv
        case .visualAttentionRegion: av
        case .visualAttentionQuery: aq
        case .visualAttentionScore: wa
        case .keywordAttentionKeyword: bka
        case .keywordAttentionQuery: bqa
        case .keywordAttentionScore: wl
        case .modalityVisualWeight: mv
        case .modalityVisualBias: cv
        case .modalityVisualScore: mvScore
        case .modalityKeywordWeight: mk
        case .modalityKeywordBias: ck
        case .modalityKeywordScore: mkScore
        }
    }

    /// The dense prefix a scope accumulates (the MTN block, or every small tensor).
    func denseCount(_ scope: AdamOptimizer.Scope) -> Int {
        scope == .all ? smallCount : mtnCount
    }

    /// The buffer size a scope needs.
    func count(_ scope: AdamOptimizer.Scope) -> Int {
        scope == .all ? count : mtnCount
    }
}

/// The scalars of one image's forward pass (the vectors live in the workspace slot).
struct SlotInfo: Sendable {
    var regionCount = 0
    var keywordCount = 0
    /// The visual branch was computed (R > 0 and the mode uses it).
    var useVisual = false
    /// The keyword branch was computed (K > 0 and the mode uses it).
    var useKeyword = false
    /// `β` came from the MTN (attention mode with both modalities present).
    var usesMTN = false
    var betaV: Float = 1
    var betaK: Float = 0
    var uNorm: Float = 0
    var score: Float = 0
}

/// Offsets inside one thread's scratch buffer: the encoded query, the per-example backward accumulators,
/// the per-image backward scratch, and one slot of forward intermediates per image of an example.
struct WorkspaceLayout: Sendable, Hashable {
    let slots: Int
    let regionCapacity: Int
    let keywordCapacity: Int

    // The query: q, A_q q, B_q q, c_v + M_v[:, :d] q, c_k + M_k[:, :d] q.
    let q: Int
    let visualQueryTerm: Int
    let keywordQueryTerm: Int
    let mtnVisualQueryTerm: Int
    let mtnKeywordQueryTerm: Int
    // Per example: ∂L/∂q, ∂L/∂(A_q q), ∂L/∂(B_q q), Σ MTN pre-activation gradients per branch.
    let dq: Int
    let dVisualTerm: Int
    let dKeywordTerm: Int
    let preSumV: Int
    let preSumK: Int
    // Per image: ∂L/∂u, ∂L/∂visual, ∂L/∂keyword, ∂L/∂items (R or K × d), ∂L/∂α, attention pre-activations, MTN.
    let du: Int
    let dVisual: Int
    let dKeyword: Int
    let dItems: Int
    let dAlpha: Int
    let pre: Int
    let preM: Int
    // Slots.
    let slotBase: Int
    let slotStride: Int
    // Relative to a slot's start.
    let v: Int
    let hv: Int
    let alpha: Int
    let visual: Int
    let k: Int
    let hk: Int
    let lambda: Int
    let keyword: Int
    let tv: Int
    let tk: Int
    let u: Int
    let count: Int

    init(_ c: ModelConfiguration, slots: Int, regionCapacity: Int, keywordCapacity: Int) {
        let (d, a, h) = (c.embeddingDimension, c.attentionDimension, c.modalityDimension)
        self.slots = slots
        self.regionCapacity = regionCapacity
        self.keywordCapacity = keywordCapacity
        let items = max(regionCapacity, keywordCapacity)
        var o = 0
        func next(_ size: Int) -> Int {
            defer { o += size }
            return o
        }
        q = next(d)
        visualQueryTerm = next(a)
        keywordQueryTerm = next(a)
        mtnVisualQueryTerm = next(h)
        mtnKeywordQueryTerm = next(h)
        dq = next(d)
        dVisualTerm = next(a)
        dKeywordTerm = next(a)
        preSumV = next(h)
        preSumK = next(h)
        du = next(d)
        dVisual = next(d)
        dKeyword = next(d)
        dItems = next(items * d)
        dAlpha = next(items)
        pre = next(items * a)
        preM = next(h)
        slotBase = o
        var s = 0
        func field(_ size: Int) -> Int {
            defer { s += size }
            return s
        }
        v = field(regionCapacity * d)
        hv = field(regionCapacity * a)
        alpha = field(regionCapacity)
        visual = field(d)
        k = field(keywordCapacity * d)
        hk = field(keywordCapacity * a)
        lambda = field(keywordCapacity)
        keyword = field(d)
        tv = field(h)
        tk = field(h)
        u = field(d)
        slotStride = s
        count = slotBase + slots * slotStride
    }

    /// Whether this layout can hold an example with `slots` images of at most `regions` regions and `keywords`
    /// keywords.
    func fits(slots: Int, regions: Int, keywords: Int) -> Bool {
        slots <= self.slots && regions <= regionCapacity && keywords <= keywordCapacity
    }
}
