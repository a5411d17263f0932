/// Offsets of every tensor copy inside ``PackedWeights/data``.
///
/// The forward pass multiplies by weights stored *transposed* (input-major: one contiguous row of outputs per
/// input element), so each layer is a sum of scaled contiguous rows (``Kernels/combine(_:start:_:_:_:_:_:_:)``);
/// the embedding tables `W_q`, `W_k` are stored as `H × d`, one contiguous `d`-vector per trigram bucket. The
/// backward pass uses the row-major copies.
struct PackedLayout: Sendable, Hashable {
    let d: Int
    let a: Int
    let h: Int
    let dim: Int
    let buckets: Int

    /// `W_qᵀ` (H × d).
    let wqT: Int
    /// `W_kᵀ` (H × d).
    let wkT: Int
    let bq: Int
    let bk: Int
    /// `W_vᵀ` (D × d).
    let wvT: Int
    let bv: Int
    let av: Int
    /// `A_vᵀ` (d × a).
    let avT: Int
    let aq: Int
    /// `A_qᵀ` (d × a).
    let aqT: Int
    let wa: Int
    let bka: Int
    /// `B_kᵀ` (d × a).
    let bkaT: Int
    let bqa: Int
    /// `B_qᵀ` (d × a).
    let bqaT: Int
    let wl: Int
    let mv: Int
    /// `M_vᵀ` (2d × h): rows `0..<d` multiply `q`, rows `d..<2d` multiply the visual vector.
    let mvT: Int
    let cv: Int
    let mvScore: Int
    let mk: Int
    /// `M_kᵀ` (2d × h).
    let mkT: Int
    let ck: Int
    let mkScore: Int
    let count: Int

    init(_ c: ModelConfiguration) {
        let (d, a, h, dim, buckets) = (
            c.embeddingDimension, c.attentionDimension, c.modalityDimension, c.regionDimension, c.hashBuckets
        )
        (self.d, self.a, self.h, self.dim, self.buckets) = (d, a, h, dim, buckets)
        var o = 0
        func next(_ size: Int) -> Int {
            defer { o += size }
            return o
        }
        // Small tensors first (they are refreshed after every step), the two big tables last.
        bq = next(d)
        bk = next(d)
        wvT = next(dim * d)
        bv = next(d)
        av = next(a * d)
        avT = next(a * d)
        aq = next(a * d)
        aqT = next(a * d)
        wa = next(a)
        bka = next(a * d)
        bkaT = next(a * d)
        bqa = next(a * d)
        bqaT = next(a * d)
        wl = next(a)
        mv = next(h * 2 * d)
        mvT = next(h * 2 * d)
        cv = next(h)
        mvScore = next(h)
        mk = next(h * 2 * d)
        mkT = next(h * 2 * d)
        ck = next(h)
        mkScore = next(h)
        wqT = next(buckets * d)
        wkT = next(buckets * d)
        count = o
    }

    /// Where the row-major copy of a tensor lives (`nil` for `W_q`, `W_k`, `W_v`, which are only kept transposed).
    func rowMajor(_ tensor: AMCTensor) -> Int? {
        switch tensor {
        case .queryWeight, .keywordWeight, .regionWeight: nil
        case .queryBias: bq
        case .keywordBias: bk
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

    /// Where the transposed copy of a matrix lives (`nil` for vectors).
    func transposed(_ tensor: AMCTensor) -> Int? {
        switch tensor {
        case .queryWeight: wqT
        case .keywordWeight: wkT
        case .regionWeight: wvT
        case .visualAttentionRegion: avT
        case .visualAttentionQuery: aqT
        case .keywordAttentionKeyword: bkaT
        case .keywordAttentionQuery: bqaT
        case .modalityVisualWeight: mvT
        case .modalityKeywordWeight: mkT
        default: nil
        }
    }
}

/// The weights in the layout the kernels read: one contiguous buffer with transposed and row-major copies
/// (see ``PackedLayout``). Derived from ``AMCWeights``; ``AMCModel`` keeps the two in sync.
struct PackedWeights: Sendable {
    var data: [Float]
    let layout: PackedLayout

    init(_ weights: AMCWeights) {
        layout = PackedLayout(weights.configuration)
        data = [Float](repeating: 0, count: layout.count)
        for tensor in AMCTensor.allCases { refresh(tensor, from: weights) }
    }

    /// Copies one tensor of `weights` into its packed copies.
    mutating func refresh(_ tensor: AMCTensor, from weights: AMCWeights) {
        let shape = tensor.shape(weights.configuration)
        let source = weights[tensor]
        let layout = layout
        data.withUnsafeMutableBufferPointer { packed in
            source.withUnsafeBufferPointer { src in
                let base = packed.baseAddress!
                if let offset = layout.rowMajor(tensor) {
                    (base + offset).update(from: src.baseAddress!, count: src.count)
                }
                if let offset = layout.transposed(tensor) {
                    let out = base + offset
                    for row in 0..<shape.rows {
                        for column in 0..<shape.columns {
                            out[column * shape.rows + row] = src[row * shape.columns + column]
                        }
                    }
                }
            }
        }
    }
}
