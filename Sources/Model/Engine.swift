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

/// The forward and backward pass over raw buffers (see `Docs/model.md` for the equations and summation order).
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

    @inline(__always)
    func slot(_ index: Int) -> UnsafeMutablePointer<Float> { s + sl.slotBase + index * sl.slotStride }

    // MARK: - Forward

    /// `out = tanh(table · x + bias)` for a sparse `x`, with the table stored transposed (H × d).
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

    /// Encodes the query into the workspace: `q`, `A_q q`, `B_q q` and the query half of both MTN branches.
    /// - Returns: `sqrt(q·q + ε)`.
    func encodeQuery(_ input: SparseVector) -> Float {
        let q = s + sl.q
        sparseEncode(input, table: w + pl.wqT, bias: w + pl.bq, into: q)
        Kernels.combine(s + sl.visualQueryTerm, start: nil, d, q, 1, w + pl.aqT, a, a)
        Kernels.combine(s + sl.keywordQueryTerm, start: nil, d, q, 1, w + pl.bqaT, a, a)
        Kernels.combine(s + sl.mtnVisualQueryTerm, start: w + pl.cv, d, q, 1, w + pl.mvT, h, h)
        Kernels.combine(s + sl.mtnKeywordQueryTerm, start: w + pl.ck, d, q, 1, w + pl.mkT, h, h)
        return (Kernels.dot(q, q, d) + AMCModel.normEpsilon).squareRoot()
    }

    /// Loads an already encoded query into the workspace.
    func load(_ query: EncodedQuery) {
        query.vector.withUnsafeBufferPointer { (s + sl.q).update(from: $0.baseAddress!, count: d) }
        query.terms.withUnsafeBufferPointer { terms in
            let t = terms.baseAddress!
            (s + sl.visualQueryTerm).update(from: t, count: a)
            (s + sl.keywordQueryTerm).update(from: t + a, count: a)
            (s + sl.mtnVisualQueryTerm).update(from: t + 2 * a, count: h)
            (s + sl.mtnKeywordQueryTerm).update(from: t + 2 * a + h, count: h)
        }
    }

    /// The forward pass of one image into slot `index`; the query must be in the workspace.
    func forward(_ image: ImageFeatures, slot index: Int, queryNorm: Float) {
        let r = image.regionCount
        let kc = image.keywords.count
        precondition(image.regions.count == r * pl.dim, "regions must be regionCount × regionDimension")
        let base = slot(index)
        if r > 0 && mode != .keywordOnly { encodeRegions(image.regions, count: r, into: base + sl.v) }
        if kc > 0 && mode != .imageOnly { encodeKeywords(image.keywords, into: base + sl.k) }
        forward(
            slot: index,
            regions: base + sl.v,
            regionCount: r,
            keywords: base + sl.k,
            keywordCount: kc,
            queryNorm: queryNorm
        )
    }

    /// α over the regions and λ over the keywords of the image in slot `index`, as its last forward pass left them
    /// (empty for a branch that was not computed).
    func attentionWeights(
        slot index: Int
    ) -> (regions: UnsafeBufferPointer<Float>, keywords: UnsafeBufferPointer<Float>) {
        let info = infos[index]
        let base = slot(index)
        return (
            UnsafeBufferPointer(start: base + sl.alpha, count: info.useVisual ? info.regionCount : 0),
            UnsafeBufferPointer(start: base + sl.lambda, count: info.useKeyword ? info.keywordCount : 0)
        )
    }

    /// The image side of an attention's hidden layer, `P x_i` for each of `count` items (query independent; the
    /// query term is added afterwards, so a precomputed projection gives the same bits).
    func project(
        _ items: UnsafePointer<Float>,
        count n: Int,
        projectT: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<n { Kernels.combine(out + i * a, start: nil, d, items + i * d, 1, projectT, a, a) }
    }

    /// ``project(_:count:projectT:into:)`` for the VAN (`A_v v_i`, R × a) and the LAN (`B_k k_j`, K × a).
    func projectRegions(_ v: UnsafePointer<Float>, count r: Int, into out: UnsafeMutablePointer<Float>) {
        project(v, count: r, projectT: w + pl.avT, into: out)
    }

    /// See ``projectRegions(_:count:into:)``.
    func projectKeywords(_ k: UnsafePointer<Float>, count kc: Int, into out: UnsafeMutablePointer<Float>) {
        project(k, count: kc, projectT: w + pl.bkaT, into: out)
    }

    /// The region encoder: `v_i = tanh(W_v x_i + b_v)` for each of the `count` cells (query independent).
    func encodeRegions(_ regions: [Float], count r: Int, into v: UnsafeMutablePointer<Float>) {
        let dim = pl.dim
        regions.withUnsafeBufferPointer { regions in
            let x = regions.baseAddress!
            for i in 0..<r { Kernels.combine(v + i * d, start: w + pl.bv, dim, x + i * dim, 1, w + pl.wvT, d, d) }
        }
        Kernels.tanhInPlace(v, r * d)
    }

    /// The keyword encoder: `k_j = tanh(W_k x_j + b_k)` for each keyword bag (query independent).
    func encodeKeywords(_ keywords: [SparseVector], into k: UnsafeMutablePointer<Float>) {
        for (j, bag) in keywords.enumerated() {
            sparseEncode(bag, table: w + pl.wkT, bias: w + pl.bk, into: k + j * d)
        }
    }

    /// The query-dependent rest of the forward pass (VAN, LAN, MTN, cosine) into slot `index`, from encoded
    /// regions (`regionCount` × d) and keywords (`keywordCount` × d), and optionally their precomputed attention
    /// projections (× a each); the query must be in the workspace.
    func forward(
        slot index: Int,
        regions v: UnsafePointer<Float>,
        regionCount r: Int,
        keywords k: UnsafePointer<Float>,
        keywordCount kc: Int,
        regionProjections: UnsafePointer<Float>? = nil,
        keywordProjections: UnsafePointer<Float>? = nil,
        queryNorm: Float
    ) {
        let base = slot(index)
        let visual = base + sl.visual
        let keyword = base + sl.keyword
        var info = SlotInfo()
        info.regionCount = r
        info.keywordCount = kc
        info.useVisual = r > 0 && mode != .keywordOnly
        info.useKeyword = kc > 0 && mode != .imageOnly

        if info.useVisual {
            attend(
                v,
                count: r,
                projected: regionProjections,
                projectT: w + pl.avT,
                queryTerm: s + sl.visualQueryTerm,
                score: w + pl.wa,
                hidden: base + sl.hv,
                weights: base + sl.alpha,
                pooled: visual
            )
        } else {
            Kernels.zero(visual, d)
        }
        if info.useKeyword {
            attend(
                k,
                count: kc,
                projected: keywordProjections,
                projectT: w + pl.bkaT,
                queryTerm: s + sl.keywordQueryTerm,
                score: w + pl.wl,
                hidden: base + sl.hk,
                weights: base + sl.lambda,
                pooled: keyword
            )
        } else {
            Kernels.zero(keyword, d)
        }

        switch mode {
        case .imageOnly:
            break
        case .keywordOnly:
            (info.betaV, info.betaK) = (0, 1)
        case .attention:
            if info.useVisual && info.useKeyword {
                info.usesMTN = true
                let zv = modalityLogit(
                    visual,
                    queryTerm: s + sl.mtnVisualQueryTerm,
                    matrixT: w + pl.mvT,
                    score: w + pl.mvScore,
                    hidden: base + sl.tv
                )
                let zk = modalityLogit(
                    keyword,
                    queryTerm: s + sl.mtnKeywordQueryTerm,
                    matrixT: w + pl.mkT,
                    score: w + pl.mkScore,
                    hidden: base + sl.tk
                )
                let top = max(zv, zk)
                let ev = (zv - top).expValue
                let ek = (zk - top).expValue
                info.betaV = ev / (ev + ek)
                info.betaK = 1 - info.betaV
            } else if info.useKeyword {
                (info.betaV, info.betaK) = (0, 1)
            }
        }

        let u = base + sl.u
        if info.usesMTN {
            for j in 0..<d { u[j] = info.betaV * visual[j] + info.betaK * keyword[j] }
        } else {
            u.update(from: info.betaK == 0 ? visual : keyword, count: d)
        }
        info.uNorm = (Kernels.dot(u, u, d) + AMCModel.normEpsilon).squareRoot()
        info.score = Kernels.dot(s + sl.q, u, d) / (queryNorm * info.uNorm)
        infos[index] = info
    }

    /// Query-guided attention: `h_i = tanh(P x_i + t)`, `e_i = w·h_i`, `α = softmax(e)`, `pooled = Σ α_i x_i`.
    /// `P x_i` is computed here unless `projected` holds it already (``project(_:count:projectT:into:)``).
    func attend(
        _ items: UnsafePointer<Float>,
        count n: Int,
        projected: UnsafePointer<Float>? = nil,
        projectT: UnsafePointer<Float>,
        queryTerm: UnsafePointer<Float>,
        score: UnsafePointer<Float>,
        hidden: UnsafeMutablePointer<Float>,
        weights: UnsafeMutablePointer<Float>,
        pooled: UnsafeMutablePointer<Float>
    ) {
        if let projected {
            hidden.update(from: projected, count: n * a)
        } else {
            project(items, count: n, projectT: projectT, into: hidden)
        }
        for i in 0..<n { Kernels.axpy(hidden + i * a, 1, queryTerm, a) }
        Kernels.tanhInPlace(hidden, n * a)
        var top = -Float.infinity
        for i in 0..<n {
            let e = Kernels.dot(score, hidden + i * a, a)
            weights[i] = e
            top = max(top, e)
        }
        var total: Float = 0
        for i in 0..<n {
            weights[i] = (weights[i] - top).expValue
            total += weights[i]
        }
        Kernels.zero(pooled, d)
        for i in 0..<n {
            weights[i] /= total
            Kernels.axpy(pooled, weights[i], items + i * d, d)
        }
    }

    /// `z = m · tanh(c + M[:, :d] q + M[:, d:] x)` with the query half precomputed; the tanh goes to `hidden`.
    func modalityLogit(
        _ x: UnsafePointer<Float>,
        queryTerm: UnsafePointer<Float>,
        matrixT: UnsafePointer<Float>,
        score: UnsafePointer<Float>,
        hidden: UnsafeMutablePointer<Float>
    ) -> Float {
        Kernels.combine(hidden, start: queryTerm, d, x, 1, matrixT + d * h, h, h)
        Kernels.tanhInPlace(hidden, h)
        return Kernels.dot(score, hidden, h)
    }

    // MARK: - One example

    /// Forward pass of one example and, if `sink` is given and a hinge term is active, its backward pass into
    /// `sink` (which must be zero where it is written). `full` back-propagates into every tensor; otherwise only
    /// the MTN tensors get gradients.
    /// - Returns: `Σ_t max(0, margin − s(q, pos) + s(q, neg_t))`.
    func example(
        query: SparseVector,
        positive: ImageFeatures,
        negatives: [ImageFeatures],
        full: Bool,
        sink: inout GradientSink?
    ) -> Float {
        let queryNorm = encodeQuery(query)
        forward(positive, slot: 0, queryNorm: queryNorm)
        let sp = infos[0].score
        var loss: Float = 0
        var dPositive: Float = 0
        for (t, negative) in negatives.enumerated() {
            forward(negative, slot: t + 1, queryNorm: queryNorm)
            let term = margin - sp + infos[t + 1].score
            if term > 0 {
                loss += term
                dPositive -= 1
            }
        }
        guard dPositive != 0, sink != nil else { return loss }

        Kernels.zero(s + sl.dq, d)
        Kernels.zero(s + sl.dVisualTerm, a)
        Kernels.zero(s + sl.dKeywordTerm, a)
        Kernels.zero(s + sl.preSumV, h)
        Kernels.zero(s + sl.preSumK, h)
        var usedMTN = backward(positive, slot: 0, dScore: dPositive, queryNorm: queryNorm, full: full, &sink!)
        for (t, negative) in negatives.enumerated() where margin - sp + infos[t + 1].score > 0 {
            let used = backward(negative, slot: t + 1, dScore: 1, queryNorm: queryNorm, full: full, &sink!)
            usedMTN = usedMTN || used
        }

        // The query halves of M_v and M_k: ∂L/∂M[:, :d] += (Σ_images pre) ⊗ q.
        let q = s + sl.q
        let g = sink!.g
        if usedMTN {
            for row in 0..<h {
                Kernels.axpy(g + gl.mv + row * 2 * d, s[sl.preSumV + row], q, d)
                Kernels.axpy(g + gl.mk + row * 2 * d, s[sl.preSumK + row], q, d)
            }
        }
        guard full else { return loss }

        // ∂L/∂q from the attention query terms and the MTN, then the query encoder.
        let dq = s + sl.dq
        let dVisualTerm = s + sl.dVisualTerm
        let dKeywordTerm = s + sl.dKeywordTerm
        Kernels.combine(dq, start: dq, a, dVisualTerm, 1, w + pl.aq, d, d)
        Kernels.combine(dq, start: dq, a, dKeywordTerm, 1, w + pl.bqa, d, d)
        if usedMTN {
            Kernels.combine(dq, start: dq, h, s + sl.preSumV, 1, w + pl.mv, 2 * d, d)
            Kernels.combine(dq, start: dq, h, s + sl.preSumK, 1, w + pl.mk, 2 * d, d)
        }
        for row in 0..<a {
            Kernels.axpy(g + gl.aq + row * d, dVisualTerm[row], q, d)
            Kernels.axpy(g + gl.bqa + row * d, dKeywordTerm[row], q, d)
        }
        Kernels.tanhGradient(dq, q, d)
        Kernels.add(g + gl.bq, dq, d)
        for (index, count) in zip(query.indices, query.counts) {
            let column = Int(index)
            sink!.touchQuery(column)
            Kernels.axpy(g + gl.wqT + column * d, count, dq, d)
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
        let base = slot(index)
        let q = s + sl.q
        let u = base + sl.u
        let du = s + sl.du
        let (nu, score) = (info.uNorm, info.score)
        let (qu, qq, uu) = (nq * nu, nq * nq, nu * nu)

        // s = q·u / (|q| |u|)
        if full {
            let dq = s + sl.dq
            for j in 0..<d { dq[j] += ds * (u[j] / qu - score * q[j] / qq) }
        }
        for j in 0..<d { du[j] = ds * (q[j] / qu - score * u[j] / uu) }

        // u = β_v visual + β_k keyword
        let dVisual = s + sl.dVisual
        let dKeyword = s + sl.dKeyword
        if full {
            Kernels.scale(dVisual, info.betaV, du, d)
            Kernels.scale(dKeyword, info.betaK, du, d)
        }

        // [β_v, β_k] = softmax(z_v, z_k)
        let visual = base + sl.visual
        let keyword = base + sl.keyword
        if info.usesMTN {
            let dBetaV = Kernels.dot(du, visual, d)
            let dBetaK = Kernels.dot(du, keyword, d)
            let dzv = info.betaV * info.betaK * (dBetaV - dBetaK)
            modalityBackward(
                matrix: w + pl.mv,
                score: w + pl.mvScore,
                hidden: base + sl.tv,
                x: visual,
                dz: dzv,
                dMatrix: g + gl.mv,
                dBias: g + gl.cv,
                dScore: g + gl.mvScore,
                preSum: s + sl.preSumV,
                dx: full ? dVisual : nil
            )
            modalityBackward(
                matrix: w + pl.mk,
                score: w + pl.mkScore,
                hidden: base + sl.tk,
                x: keyword,
                dz: -dzv,
                dMatrix: g + gl.mk,
                dBias: g + gl.ck,
                dScore: g + gl.mkScore,
                preSum: s + sl.preSumK,
                dx: full ? dKeyword : nil
            )
        }
        guard full else { return info.usesMTN }

        let dItems = s + sl.dItems
        // VAN → region encoder.
        if info.useVisual {
            let r = info.regionCount
            let dim = pl.dim
            let v = base + sl.v
            attendBackward(
                v,
                count: r,
                project: w + pl.av,
                score: w + pl.wa,
                hidden: base + sl.hv,
                weights: base + sl.alpha,
                dPooled: dVisual,
                dItems: dItems,
                dProject: g + gl.av,
                dScore: g + gl.wa,
                dQueryTerm: s + sl.dVisualTerm
            )
            Kernels.tanhGradient(dItems, v, r * d)
            for i in 0..<r { Kernels.add(g + gl.bv, dItems + i * d, d) }
            image.regions.withUnsafeBufferPointer { regions in
                let x = regions.baseAddress!
                for row in 0..<d {
                    let out = g + gl.wv + row * dim
                    Kernels.combine(out, start: out, r, dItems + row, d, x, dim, dim)
                }
            }
        }
        // LAN → keyword encoder (sparse columns of W_k).
        if info.useKeyword {
            let kc = info.keywordCount
            let k = base + sl.k
            attendBackward(
                k,
                count: kc,
                project: w + pl.bka,
                score: w + pl.wl,
                hidden: base + sl.hk,
                weights: base + sl.lambda,
                dPooled: dKeyword,
                dItems: dItems,
                dProject: g + gl.bka,
                dScore: g + gl.wl,
                dQueryTerm: s + sl.dKeywordTerm
            )
            Kernels.tanhGradient(dItems, k, kc * d)
            for (j, bag) in image.keywords.enumerated() {
                let pre = dItems + j * d
                Kernels.add(g + gl.bk, pre, d)
                for (index, count) in zip(bag.indices, bag.counts) {
                    let column = Int(index)
                    sink.touchKeyword(column)
                    Kernels.axpy(g + gl.wkT + column * d, count, pre, d)
                }
            }
        }
        return info.usesMTN
    }

    /// Backward of ``attend(_:count:projected:projectT:queryTerm:score:hidden:weights:pooled:)``: writes `∂L/∂x_i` to
    /// `dItems` and accumulates into `dProject` (row-major a × d), `dScore` and `dQueryTerm`.
    func attendBackward(
        _ items: UnsafePointer<Float>,
        count n: Int,
        project: UnsafePointer<Float>,
        score: UnsafePointer<Float>,
        hidden: UnsafePointer<Float>,
        weights alpha: UnsafePointer<Float>,
        dPooled: UnsafePointer<Float>,
        dItems: UnsafeMutablePointer<Float>,
        dProject: UnsafeMutablePointer<Float>,
        dScore: UnsafeMutablePointer<Float>,
        dQueryTerm: UnsafeMutablePointer<Float>
    ) {
        let dAlpha = s + sl.dAlpha
        let pre = s + sl.pre
        var weighted: Float = 0
        for i in 0..<n {
            dAlpha[i] = Kernels.dot(dPooled, items + i * d, d)
            weighted += alpha[i] * dAlpha[i]
        }
        for i in 0..<n {
            let de = alpha[i] * (dAlpha[i] - weighted)
            let hi = hidden + i * a
            Kernels.axpy(dScore, de, hi, a)
            let pi = pre + i * a
            for row in 0..<a {
                let value = hi[row]
                pi[row] = de * score[row] * (1 - value * value)
            }
            Kernels.add(dQueryTerm, pi, a)
            let di = dItems + i * d
            Kernels.scale(di, alpha[i], dPooled, d)
            Kernels.combine(di, start: di, a, pi, 1, project, d, d)
        }
        for row in 0..<a {
            let out = dProject + row * d
            Kernels.combine(out, start: out, n, pre + row, a, items, d, d)
        }
    }

    /// Backward of ``modalityLogit(_:queryTerm:matrixT:score:hidden:)`` given `dz = ∂L/∂z`, except the query
    /// half of `∂L/∂M` and `∂L/∂q`, which are applied once per example from `preSum`.
    func modalityBackward(
        matrix: UnsafePointer<Float>,
        score: UnsafePointer<Float>,
        hidden: UnsafePointer<Float>,
        x: UnsafePointer<Float>,
        dz: Float,
        dMatrix: UnsafeMutablePointer<Float>,
        dBias: UnsafeMutablePointer<Float>,
        dScore: UnsafeMutablePointer<Float>,
        preSum: UnsafeMutablePointer<Float>,
        dx: UnsafeMutablePointer<Float>?
    ) {
        let pre = s + sl.preM
        for row in 0..<h {
            let t = hidden[row]
            dScore[row] += dz * t
            let p = dz * score[row] * (1 - t * t)
            pre[row] = p
            dBias[row] += p
            preSum[row] += p
            Kernels.axpy(dMatrix + row * 2 * d + d, p, x, d)
        }
        if let dx { Kernels.combine(dx, start: dx, h, pre, 1, matrix + d, 2 * d, d) }
    }
}
