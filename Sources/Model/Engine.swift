/// One thread's reusable buffers for forward and backward passes.
///
/// `floats` = [example gradient | partial (minibatch-half) gradient | workspace]; `ints` = for `W_q` then `W_k`:
/// example marks, example columns, partial marks, partial columns (`H` each). Nothing here is reallocated
/// between steps unless an example needs more image slots, regions or keywords than seen so far.
struct EngineScratch: Sendable {
    var floats: [Float]
    var ints: [Int32]
    var infos: [SlotInfo]
    private(set) var workspace: WorkspaceLayout
    /// Size of one gradient buffer (0 for forward-only use).
    let gradientCount: Int
    let gradientLayout: GradientLayout
    let buckets: Int
    /// Number of distinct `W_q` / `W_k` columns in the partial gradient.
    var partialQueryColumns = 0
    var partialKeywordColumns = 0

    init(_ c: ModelConfiguration, gradientCount: Int, slots: Int, regions: Int, keywords: Int) {
        self.gradientCount = gradientCount
        gradientLayout = GradientLayout(c)
        buckets = c.hashBuckets
        workspace = WorkspaceLayout(c, slots: slots, regionCapacity: regions, keywordCapacity: keywords)
        floats = [Float](repeating: 0, count: 2 * gradientCount + workspace.count)
        ints = [Int32](repeating: 0, count: gradientCount > 0 ? 8 * c.hashBuckets : 0)
        infos = [SlotInfo](repeating: SlotInfo(), count: slots)
    }

    var exampleGradient: Int { 0 }
    var partialGradient: Int { gradientCount }
    var workspaceBase: Int { 2 * gradientCount }

    /// Grows the workspace (keeping the gradient buffers) if an example needs more room.
    mutating func reserve(_ c: ModelConfiguration, slots: Int, regions: Int, keywords: Int) {
        guard !workspace.fits(slots: slots, regions: regions, keywords: keywords) else { return }
        workspace = WorkspaceLayout(
            c,
            slots: max(slots, workspace.slots),
            regionCapacity: max(regions, workspace.regionCapacity),
            keywordCapacity: max(keywords, workspace.keywordCapacity)
        )
        let size = workspaceBase + workspace.count
        if floats.count < size { floats.append(contentsOf: repeatElement(0, count: size - floats.count)) }
        if infos.count < workspace.slots {
            infos.append(contentsOf: repeatElement(SlotInfo(), count: workspace.slots - infos.count))
        }
    }

    /// Runs `body` with an engine over these buffers and the packed weights.
    mutating func withEngine<R>(
        _ weights: PackedWeights,
        mode: ModalityMode,
        margin: Float,
        _ body: (Engine, GradientSink?) throws -> R
    ) rethrows -> R {
        let workspace = workspace
        let (gradientCount, buckets, gradientLayout) = (gradientCount, buckets, gradientLayout)
        return try weights.data.withUnsafeBufferPointer { w in
            try floats.withUnsafeMutableBufferPointer { f in
                try ints.withUnsafeMutableBufferPointer { i in
                    try infos.withUnsafeMutableBufferPointer { infos in
                        let engine = Engine(
                            w: w.baseAddress!,
                            pl: weights.layout,
                            gl: gradientLayout,
                            s: f.baseAddress! + 2 * gradientCount,
                            sl: workspace,
                            infos: infos.baseAddress!,
                            mode: mode,
                            margin: margin
                        )
                        let sink =
                            gradientCount > 0
                            ? GradientSink(g: f.baseAddress!, marks: i.baseAddress!, buckets: buckets) : nil
                        return try body(engine, sink)
                    }
                }
            }
        }
    }
}

/// Where one example's gradient goes: a zeroed gradient buffer (``GradientLayout``) and the list of `W_q`/`W_k`
/// columns it touched (marks are 0/1 per bucket; the columns list has room for every bucket).
struct GradientSink {
    let g: UnsafeMutablePointer<Float>
    /// [query marks | keyword marks | query columns | keyword columns], `H` each.
    let marks: UnsafeMutablePointer<Int32>
    let buckets: Int
    var queryColumns = 0
    var keywordColumns = 0

    init(g: UnsafeMutablePointer<Float>, marks: UnsafeMutablePointer<Int32>, buckets: Int) {
        self.g = g
        self.marks = marks
        self.buckets = buckets
    }

    var queryColumnList: UnsafeMutablePointer<Int32> { marks + 2 * buckets }
    var keywordColumnList: UnsafeMutablePointer<Int32> { marks + 3 * buckets }

    @inline(__always)
    mutating func touchQuery(_ column: Int) {
        if marks[column] == 0 {
            marks[column] = 1
            queryColumnList[queryColumns] = Int32(truncatingIfNeeded: column)
            queryColumns += 1
        }
    }

    @inline(__always)
    mutating func touchKeyword(_ column: Int) {
        if marks[buckets + column] == 0 {
            marks[buckets + column] = 1
            keywordColumnList[keywordColumns] = Int32(truncatingIfNeeded: column)
            keywordColumns += 1
        }
    }
}

/// The forward and backward pass of the AMC model over preallocated buffers, written with the named operations of
/// ``MatrixView`` and the two reusable pieces ``AttentionPooling`` (VAN, LAN) and ``ModalityGate`` (MTN), so each
/// step reads like its line in `Docs/model.md` (which also fixes every summation order).
struct Engine {
    let w: UnsafePointer<Float>
    let pl: PackedLayout
    let gl: GradientLayout
    let s: UnsafeMutablePointer<Float>
    let sl: WorkspaceLayout
    let infos: UnsafeMutablePointer<SlotInfo>
    let mode: ModalityMode
    let margin: Float

    /// The same engine (buffers, weights) running another modality mode.
    func with(mode: ModalityMode) -> Engine {
        Engine(w: w, pl: pl, gl: gl, s: s, sl: sl, infos: infos, mode: mode, margin: margin)
    }

    var d: Int { pl.d }
    var a: Int { pl.a }
    var h: Int { pl.h }

    // MARK: - The weights, by name

    private func vector(_ offset: Int, _ count: Int) -> VectorView { VectorView(w + offset, count: count) }
    private func matrix(_ offset: Int, _ rows: Int, _ columns: Int) -> MatrixView {
        MatrixView(w + offset, rows: rows, columns: columns)
    }

    /// `W_vᵀ` (D × d) and `b_v`: the region encoder.
    var regionWeightT: MatrixView { matrix(pl.wvT, pl.dim, d) }
    var regionBias: VectorView { vector(pl.bv, d) }
    /// The VAN: `A_v`, `A_q`, `w_a`.
    var visualAttention: AttentionPooling {
        AttentionPooling(
            projectionT: matrix(pl.avT, d, a),
            projection: matrix(pl.av, a, d),
            queryProjectionT: matrix(pl.aqT, d, a),
            score: vector(pl.wa, a)
        )
    }
    /// The LAN: `B_k`, `B_q`, `w_l`.
    var keywordAttention: AttentionPooling {
        AttentionPooling(
            projectionT: matrix(pl.bkaT, d, a),
            projection: matrix(pl.bka, a, d),
            queryProjectionT: matrix(pl.bqaT, d, a),
            score: vector(pl.wl, a)
        )
    }
    /// The MTN: `M_v, c_v, m_v` and `M_k, c_k, m_k`.
    var modalityGate: ModalityGate {
        ModalityGate(
            visual: ModalityBranch(
                queryWeightT: matrix(pl.mvT, d, h),
                inputWeightT: matrix(pl.mvT + d * h, d, h),
                weight: matrix(pl.mv, h, 2 * d),
                bias: vector(pl.cv, h),
                score: vector(pl.mvScore, h)
            ),
            keyword: ModalityBranch(
                queryWeightT: matrix(pl.mkT, d, h),
                inputWeightT: matrix(pl.mkT + d * h, d, h),
                weight: matrix(pl.mk, h, 2 * d),
                bias: vector(pl.ck, h),
                score: vector(pl.mkScore, h)
            )
        )
    }

    // MARK: - The workspace, by name

    private func scratch(_ offset: Int, _ count: Int) -> VectorView { VectorView(s + offset, count: count) }

    /// `q`.
    var q: VectorView { scratch(sl.q, d) }
    /// `A_q q`, `B_q q`, `c_v + M_v[:, :d] q`, `c_k + M_k[:, :d] q`.
    var visualQueryTerm: VectorView { scratch(sl.visualQueryTerm, a) }
    var keywordQueryTerm: VectorView { scratch(sl.keywordQueryTerm, a) }
    var mtnVisualQueryTerm: VectorView { scratch(sl.mtnVisualQueryTerm, h) }
    var mtnKeywordQueryTerm: VectorView { scratch(sl.mtnKeywordQueryTerm, h) }

    /// The forward intermediates of one image (slot `index`).
    struct Slot {
        let v: MatrixView
        let hv: MatrixView
        let alpha: VectorView
        let visual: VectorView
        let k: MatrixView
        let hk: MatrixView
        let lambda: VectorView
        let keyword: VectorView
        let tv: VectorView
        let tk: VectorView
        let u: VectorView
    }

    /// Slot `index`'s views for an image of `r` regions and `kc` keywords.
    func slot(_ index: Int, regions r: Int, keywords kc: Int) -> Slot {
        let base = s + sl.slotBase + index * sl.slotStride
        return Slot(
            v: MatrixView(base + sl.v, rows: r, columns: d),
            hv: MatrixView(base + sl.hv, rows: r, columns: a),
            alpha: VectorView(base + sl.alpha, count: r),
            visual: VectorView(base + sl.visual, count: d),
            k: MatrixView(base + sl.k, rows: kc, columns: d),
            hk: MatrixView(base + sl.hk, rows: kc, columns: a),
            lambda: VectorView(base + sl.lambda, count: kc),
            keyword: VectorView(base + sl.keyword, count: d),
            tv: VectorView(base + sl.tv, count: h),
            tk: VectorView(base + sl.tk, count: h),
            u: VectorView(base + sl.u, count: d)
        )
    }

    // MARK: - Encoders

    /// `out = tanh(W x + b)` for a sparse `x`, with `W` stored transposed (H × d, a row per bucket).
    func sparseEncode(
        _ input: SparseVector,
        table: UnsafePointer<Float>,
        bias: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>
    ) {
        let n = input.indices.count
        precondition(input.counts.count == n, "sparse input has \(n) indices but \(input.counts.count) counts")
        if n == 0 {
            out.update(from: bias, count: d)
        } else {
            input.indices.withUnsafeBufferPointer { indices in
                // Every index is checked (the kernels read the table through raw pointers).
                let buckets = UInt32(pl.buckets)
                for index in indices {
                    precondition(UInt32(bitPattern: index) < buckets, "sparse input index outside 0..<hashBuckets")
                }
                input.counts.withUnsafeBufferPointer { counts in
                    Kernels.gather(out, start: bias, indices.baseAddress!, counts.baseAddress!, n, table, d)
                }
            }
        }
        Kernels.tanhInPlace(out, d)
    }

    /// Encodes the query into the workspace: `q = tanh(W_q x_q + b_q)`, `A_q q`, `B_q q` and the query half of
    /// both MTN branches.
    /// - Returns: `sqrt(q·q + ε)`.
    func encodeQuery(_ input: SparseVector) -> Float {
        sparseEncode(input, table: w + pl.wqT, bias: w + pl.bq, into: q.base)
        visualAttention.queryTerm(q, into: visualQueryTerm)
        keywordAttention.queryTerm(q, into: keywordQueryTerm)
        let gate = modalityGate
        gate.visual.queryTerm(q, into: mtnVisualQueryTerm)
        gate.keyword.queryTerm(q, into: mtnKeywordQueryTerm)
        return q.norm
    }

    /// Loads an already encoded query into the workspace.
    func load(_ query: EncodedQuery) {
        query.vector.withUnsafeBufferPointer { q.base.update(from: $0.baseAddress!, count: d) }
        query.terms.withUnsafeBufferPointer { terms in
            let t = terms.baseAddress!
            visualQueryTerm.base.update(from: t, count: a)
            keywordQueryTerm.base.update(from: t + a, count: a)
            mtnVisualQueryTerm.base.update(from: t + 2 * a, count: h)
            mtnKeywordQueryTerm.base.update(from: t + 2 * a + h, count: h)
        }
    }

    /// α over the regions and λ over the keywords of the image in slot `index`, as its last forward pass left them
    /// (empty for a branch that was not computed).
    func attentionWeights(
        slot index: Int
    ) -> (regions: UnsafeBufferPointer<Float>, keywords: UnsafeBufferPointer<Float>) {
        let info = infos[index]
        let views = slot(
            index,
            regions: info.useVisual ? info.regionCount : 0,
            keywords: info.useKeyword ? info.keywordCount : 0
        )
        return (
            UnsafeBufferPointer(start: views.alpha.base, count: views.alpha.count),
            UnsafeBufferPointer(start: views.lambda.base, count: views.lambda.count)
        )
    }

    /// The region encoder: `v_i = tanh(W_v x_i + b_v)` for each of the `count` cells (query independent).
    func encodeRegions(_ regions: [Float], count r: Int, into v: UnsafeMutablePointer<Float>) {
        let out = MatrixView(v, rows: r, columns: d)
        regions.withUnsafeBufferPointer { regions in
            let x = MatrixView(regions.baseAddress!, rows: r, columns: pl.dim)
            regionWeightT.combineRows(ofEach: x, start: regionBias, into: out)
        }
        out.tanh()
    }

    /// The keyword encoder: `k_j = tanh(W_k x_j + b_k)` for each keyword bag (query independent).
    func encodeKeywords(_ keywords: [SparseVector], into k: UnsafeMutablePointer<Float>) {
        for (j, bag) in keywords.enumerated() {
            sparseEncode(bag, table: w + pl.wkT, bias: w + pl.bk, into: k + j * d)
        }
    }

    /// `A_v v_i` for each of `count` encoded regions (R × a; query independent).
    func projectRegions(_ v: UnsafePointer<Float>, count r: Int, into out: UnsafeMutablePointer<Float>) {
        visualAttention.project(MatrixView(v, rows: r, columns: d), into: MatrixView(out, rows: r, columns: a))
    }

    /// `B_k k_j` for each of `count` encoded keywords (K × a; query independent).
    func projectKeywords(_ k: UnsafePointer<Float>, count kc: Int, into out: UnsafeMutablePointer<Float>) {
        keywordAttention.project(MatrixView(k, rows: kc, columns: d), into: MatrixView(out, rows: kc, columns: a))
    }

    // MARK: - Forward

    /// The forward pass of one image into slot `index`; the query must be in the workspace.
    func forward(_ image: ImageFeatures, slot index: Int, queryNorm: Float) {
        let r = image.regionCount
        let kc = image.keywords.count
        precondition(image.regions.count == r * pl.dim, "regions must be regionCount × regionDimension")
        let slot = slot(index, regions: r, keywords: kc)
        if r > 0 && mode != .keywordOnly { encodeRegions(image.regions, count: r, into: slot.v.base) }
        if kc > 0 && mode != .imageOnly { encodeKeywords(image.keywords, into: slot.k.base) }
        forward(slot: index, regions: slot.v, keywords: slot.k, queryNorm: queryNorm)
    }

    /// The query-dependent rest of the forward pass (VAN, LAN, MTN, cosine) into slot `index`, from encoded
    /// regions (R × d) and keywords (K × d), and optionally their precomputed attention projections (R × a,
    /// K × a; nil: computed here into the slot's hidden layers); the query must be in the workspace.
    func forward(
        slot index: Int,
        regions v: MatrixView,
        keywords k: MatrixView,
        regionProjections: MatrixView? = nil,
        keywordProjections: MatrixView? = nil,
        queryNorm: Float
    ) {
        let slot = slot(index, regions: v.rows, keywords: k.rows)
        var projectedRegions = slot.hv
        if let regionProjections {
            projectedRegions = regionProjections
        } else if v.rows > 0 && mode != .keywordOnly {
            visualAttention.project(v, into: projectedRegions)
        }
        var projectedKeywords = slot.hk
        if let keywordProjections {
            projectedKeywords = keywordProjections
        } else if k.rows > 0 && mode != .imageOnly {
            keywordAttention.project(k, into: projectedKeywords)
        }
        forward(
            slot: index,
            regions: v,
            keywords: k,
            regionProjections: projectedRegions,
            keywordProjections: projectedKeywords,
            queryNorm: queryNorm
        )
    }

    /// The same from the items and their attention projections read where they are stored: `Float` rows, or a
    /// compact catalog's `Float16` rows converted as they are read (the same bits for the same values).
    func forward<Items: AttentionItems>(
        slot index: Int,
        regions v: Items,
        keywords k: Items,
        regionProjections: Items,
        keywordProjections: Items,
        queryNorm: Float
    ) {
        let slot = slot(index, regions: v.rows, keywords: k.rows)
        var info = SlotInfo()
        info.regionCount = v.rows
        info.keywordCount = k.rows
        info.useVisual = v.rows > 0 && mode != .keywordOnly
        info.useKeyword = k.rows > 0 && mode != .imageOnly

        // VAN: visual = Σ_i α_i v_i, α = softmax(w_a · tanh(A_v v_i + A_q q)); 0 without regions.
        if info.useVisual {
            visualAttention.forward(
                items: v,
                projected: regionProjections,
                queryTerm: visualQueryTerm,
                hidden: slot.hv,
                weights: slot.alpha,
                pooled: slot.visual
            )
        } else {
            slot.visual.zero()
        }
        // LAN: keyword = Σ_j λ_j k_j, λ = softmax(w_l · tanh(B_k k_j + B_q q)); 0 without keywords.
        if info.useKeyword {
            keywordAttention.forward(
                items: k,
                projected: keywordProjections,
                queryTerm: keywordQueryTerm,
                hidden: slot.hk,
                weights: slot.lambda,
                pooled: slot.keyword
            )
        } else {
            slot.keyword.zero()
        }

        // MTN: [β_v, β_k] = softmax(z_v, z_k) when both modalities are there; otherwise the one present.
        switch mode {
        case .imageOnly:
            break
        case .keywordOnly:
            (info.betaV, info.betaK) = (0, 1)
        case .attention:
            if info.useVisual && info.useKeyword {
                info.usesMTN = true
                (info.betaV, info.betaK) = modalityGate.weights(
                    visual: slot.visual,
                    keyword: slot.keyword,
                    visualQueryTerm: mtnVisualQueryTerm,
                    keywordQueryTerm: mtnKeywordQueryTerm,
                    visualHidden: slot.tv,
                    keywordHidden: slot.tk
                )
            } else if info.useKeyword {
                (info.betaV, info.betaK) = (0, 1)
            }
        }

        // u = β_v visual + β_k keyword
        let u = slot.u
        if info.usesMTN {
            for j in 0..<d { u[j] = info.betaV * slot.visual[j] + info.betaK * slot.keyword[j] }
        } else {
            u.copy(from: info.betaK == 0 ? slot.visual : slot.keyword)
        }
        // s = (q·u) / (sqrt(q·q + ε) · sqrt(u·u + ε))
        info.uNorm = u.norm
        info.score = q.dot(u) / (queryNorm * info.uNorm)
        infos[index] = info
    }

    // MARK: - One example

    /// Forward pass of one example and, if `sink` is given and a hinge term is active, its backward pass into
    /// `sink` (which must be zero where it is written). `full` back-propagates into every tensor; otherwise only
    /// the MTN tensors get gradients, and the forward pass reads `encoded` when given (the same bits).
    /// - Returns: `Σ_t max(0, margin − s(q, pos) + s(q, neg_t))`.
    func example(
        query: SparseVector,
        positive: ImageFeatures,
        negatives: [ImageFeatures],
        encoded: TrainingExample.EncodedImages? = nil,
        full: Bool,
        sink: inout GradientSink?
    ) -> Float {
        let queryNorm = encodeQuery(query)
        // Without the encoders in the backward pass, the images' encodings give the same forward pass for less.
        let encoded = full ? nil : encoded
        precondition(encoded.map { $0.negatives.count == negatives.count } ?? true, "one encoding per negative")
        if let encoded {
            forward(encoded.positive, slot: 0, queryNorm: queryNorm)
        } else {
            forward(positive, slot: 0, queryNorm: queryNorm)
        }
        let sp = infos[0].score
        var loss: Float = 0
        var dPositive: Float = 0
        for (t, negative) in negatives.enumerated() {
            if let encoded {
                forward(encoded.negatives[t], slot: t + 1, queryNorm: queryNorm)
            } else {
                forward(negative, slot: t + 1, queryNorm: queryNorm)
            }
            let term = margin - sp + infos[t + 1].score
            if term > 0 {
                loss += term
                dPositive -= 1
            }
        }
        guard dPositive != 0, sink != nil else { return loss }

        let dq = scratch(sl.dq, d)
        let dVisualTerm = scratch(sl.dVisualTerm, a)
        let dKeywordTerm = scratch(sl.dKeywordTerm, a)
        let preSumV = scratch(sl.preSumV, h)
        let preSumK = scratch(sl.preSumK, h)
        dq.zero()
        dVisualTerm.zero()
        dKeywordTerm.zero()
        preSumV.zero()
        preSumK.zero()
        var usedMTN = backward(positive, slot: 0, dScore: dPositive, queryNorm: queryNorm, full: full, &sink!)
        for (t, negative) in negatives.enumerated() where margin - sp + infos[t + 1].score > 0 {
            let used = backward(negative, slot: t + 1, dScore: 1, queryNorm: queryNorm, full: full, &sink!)
            usedMTN = usedMTN || used
        }

        // The query halves of M_v and M_k: ∂L/∂M[:, :d] += (Σ_images pre) ⊗ q.
        let g = sink!.g
        let dMv = MatrixView(g + gl.mv, rows: h, columns: d, stride: 2 * d)
        let dMk = MatrixView(g + gl.mk, rows: h, columns: d, stride: 2 * d)
        if usedMTN {
            for row in 0..<h {
                dMv[row].add(preSumV[row], times: q)
                dMk[row].add(preSumK[row], times: q)
            }
        }
        guard full else { return loss }

        // ∂L/∂q from the attention query terms and the MTN, then the query encoder.
        let gate = modalityGate
        matrix(pl.aq, a, d).combineRows(dVisualTerm, start: dq, into: dq)  // += A_qᵀ ∂L/∂(A_q q)
        matrix(pl.bqa, a, d).combineRows(dKeywordTerm, start: dq, into: dq)  // += B_qᵀ ∂L/∂(B_q q)
        if usedMTN {
            gate.visual.weight.columns(0..<d).combineRows(preSumV, start: dq, into: dq)
            gate.keyword.weight.columns(0..<d).combineRows(preSumK, start: dq, into: dq)
        }
        let dAq = MatrixView(g + gl.aq, rows: a, columns: d)
        let dBq = MatrixView(g + gl.bqa, rows: a, columns: d)
        for row in 0..<a {
            dAq[row].add(dVisualTerm[row], times: q)
            dBq[row].add(dKeywordTerm[row], times: q)
        }
        dq.multiplyByTanhDerivative(of: q)
        VectorView(g + gl.bq, count: d).add(dq)
        for (index, count) in zip(query.indices, query.counts) {
            let column = Int(index)
            sink!.touchQuery(column)
            VectorView(g + gl.wqT + column * d, count: d).add(count, times: dq)
        }
        return loss
    }

    // MARK: - Backward

    /// Back-propagates `dScore = ∂L/∂s` of the image in slot `index` into `sink` and the per-example query
    /// accumulators.
    /// - Returns: Whether the image went through the MTN.
    func backward(
        _ image: ImageFeatures,
        slot index: Int,
        dScore ds: Float,
        queryNorm nq: Float,
        full: Bool,
        _ sink: inout GradientSink
    ) -> Bool {
        let g = sink.g
        let info = infos[index]
        let slot = slot(index, regions: info.regionCount, keywords: info.keywordCount)
        let u = slot.u
        let du = scratch(sl.du, d)
        let (nu, score) = (info.uNorm, info.score)
        let (qu, qq, uu) = (nq * nu, nq * nq, nu * nu)

        // s = q·u / (|q| |u|)
        if full {
            let dq = scratch(sl.dq, d)
            for j in 0..<d { dq[j] += ds * (u[j] / qu - score * q[j] / qq) }
        }
        for j in 0..<d { du[j] = ds * (q[j] / qu - score * u[j] / uu) }

        // u = β_v visual + β_k keyword
        let dVisual = scratch(sl.dVisual, d)
        let dKeyword = scratch(sl.dKeyword, d)
        if full {
            dVisual.assign(info.betaV, times: du)
            dKeyword.assign(info.betaK, times: du)
        }

        // [β_v, β_k] = softmax(z_v, z_k)
        if info.usesMTN {
            let dBetaV = du.dot(slot.visual)
            let dBetaK = du.dot(slot.keyword)
            let dzv = info.betaV * info.betaK * (dBetaV - dBetaK)
            let gate = modalityGate
            let pre = scratch(sl.preM, h)
            gate.visual.backward(
                x: slot.visual,
                hidden: slot.tv,
                dz: dzv,
                dWeight: MatrixView(g + gl.mv, rows: h, columns: 2 * d),
                dBias: VectorView(g + gl.cv, count: h),
                dScore: VectorView(g + gl.mvScore, count: h),
                pre: pre,
                preSum: scratch(sl.preSumV, h),
                dx: full ? dVisual : nil
            )
            gate.keyword.backward(
                x: slot.keyword,
                hidden: slot.tk,
                dz: -dzv,
                dWeight: MatrixView(g + gl.mk, rows: h, columns: 2 * d),
                dBias: VectorView(g + gl.ck, count: h),
                dScore: VectorView(g + gl.mkScore, count: h),
                pre: pre,
                preSum: scratch(sl.preSumK, h),
                dx: full ? dKeyword : nil
            )
        }
        guard full else { return info.usesMTN }

        let dAlpha = scratch(sl.dAlpha, max(sl.regionCapacity, sl.keywordCapacity))
        let pre = MatrixView(s + sl.pre, rows: max(sl.regionCapacity, sl.keywordCapacity), columns: a)
        // VAN → region encoder: ∂L/∂W_v += Σ_i δ_i ⊗ x_i, ∂L/∂b_v += Σ_i δ_i.
        if info.useVisual {
            let r = info.regionCount
            let dItems = MatrixView(s + sl.dItems, rows: r, columns: d)
            visualAttention.backward(
                items: slot.v,
                hidden: slot.hv,
                weights: slot.alpha,
                dPooled: dVisual,
                dItems: dItems,
                dProjection: MatrixView(g + gl.av, rows: a, columns: d),
                dScore: VectorView(g + gl.wa, count: a),
                dQueryTerm: scratch(sl.dVisualTerm, a),
                dWeights: dAlpha,
                dHidden: pre
            )
            VectorView(dItems.base, count: r * d).multiplyByTanhDerivative(of: VectorView(slot.v.base, count: r * d))
            let dRegionBias = VectorView(g + gl.bv, count: d)
            for i in 0..<r { dRegionBias.add(dItems[i]) }
            image.regions.withUnsafeBufferPointer { regions in
                let x = MatrixView(regions.baseAddress!, rows: r, columns: pl.dim)
                MatrixView(g + gl.wv, rows: d, columns: pl.dim).accumulateOuterProducts(dItems, x)
            }
        }
        // LAN → keyword encoder (sparse columns of W_k): ∂L/∂W_k[:, bucket] += count · δ_j, ∂L/∂b_k += Σ_j δ_j.
        if info.useKeyword {
            let kc = info.keywordCount
            let dItems = MatrixView(s + sl.dItems, rows: kc, columns: d)
            keywordAttention.backward(
                items: slot.k,
                hidden: slot.hk,
                weights: slot.lambda,
                dPooled: dKeyword,
                dItems: dItems,
                dProjection: MatrixView(g + gl.bka, rows: a, columns: d),
                dScore: VectorView(g + gl.wl, count: a),
                dQueryTerm: scratch(sl.dKeywordTerm, a),
                dWeights: dAlpha,
                dHidden: pre
            )
            VectorView(dItems.base, count: kc * d).multiplyByTanhDerivative(of: VectorView(slot.k.base, count: kc * d))
            let dKeywordBias = VectorView(g + gl.bk, count: d)
            for (j, bag) in image.keywords.enumerated() {
                let delta = dItems[j]
                dKeywordBias.add(delta)
                for (index, count) in zip(bag.indices, bag.counts) {
                    let column = Int(index)
                    sink.touchKeyword(column)
                    VectorView(g + gl.wkT + column * d, count: d).add(count, times: delta)
                }
            }
        }
        return info.usesMTN
    }
}
