/// One branch of a modality gate: `z = m · tanh(c + M[:, :d] q + M[:, d:] x)`, with the query half
/// `c + M[:, :d] q` computed once per query.
struct ModalityBranch {
    /// `M[:, :d]ᵀ` (d × h): multiplies the query.
    let queryWeightT: MatrixView
    /// `M[:, d:]ᵀ` (d × h): multiplies the modality's vector.
    let inputWeightT: MatrixView
    /// `M` (h × 2d), row-major, for the backward pass.
    let weight: MatrixView
    /// `c` (h).
    let bias: VectorView
    /// `m` (h).
    let score: VectorView

    /// `c + M[:, :d] q`.
    func queryTerm(_ q: VectorView, into out: VectorView) {
        queryWeightT.combineRows(q, start: bias, into: out)
    }

    /// `z = m · tanh(t + M[:, d:] x)`; the tanh goes to `hidden` (h).
    func logit(_ x: VectorView, queryTerm t: VectorView, hidden: VectorView) -> Float {
        inputWeightT.combineRows(x, start: t, into: hidden)
        hidden.tanh()
        return score.dot(hidden)
    }

    /// Backward of ``logit(_:queryTerm:hidden:)`` given `dz = ∂L/∂z`, except the query half of `∂L/∂M` and
    /// `∂L/∂q`, which the caller applies once per example from `preSum`.
    /// - Parameters:
    ///   - pre: Scratch (h) for the pre-activation gradient.
    ///   - preSum: Accumulates the pre-activation gradient over an example's images.
    ///   - dx: Adds `M[:, d:]ᵀ pre` (∂L/∂x) when given.
    func backward(
        x: VectorView,
        hidden: VectorView,
        dz: Float,
        dWeight: MatrixView,
        dBias: VectorView,
        dScore: VectorView,
        pre: VectorView,
        preSum: VectorView,
        dx: VectorView?
    ) {
        let d = x.count
        for row in 0..<hidden.count {
            let t = hidden[row]
            dScore[row] += dz * t
            let p = dz * score[row] * (1 - t * t)
            pre[row] = p
            dBias[row] += p
            preSum[row] += p
            // ∂L/∂M[row, d:] += p · x
            VectorView(dWeight[row].base + d, count: d).add(p, times: x)
        }
        if let dx { weight.columns(d..<(2 * d)).combineRows(pre, start: dx, into: dx) }
    }
}

/// The modality attention of the MTN: `[β_v, β_k] = softmax(z_v, z_k)` over a visual and a keyword branch
/// (``ModalityBranch``); the image representation is then `u = β_v visual + β_k keyword`.
struct ModalityGate {
    let visual: ModalityBranch
    let keyword: ModalityBranch

    /// `[β_v, β_k]` for an image's pooled vectors, given the per-query terms; the branches' hidden layers go to
    /// `visualHidden` and `keywordHidden` (h each) for the backward pass.
    func weights(
        visual x: VectorView,
        keyword y: VectorView,
        visualQueryTerm: VectorView,
        keywordQueryTerm: VectorView,
        visualHidden: VectorView,
        keywordHidden: VectorView
    ) -> (visual: Float, keyword: Float) {
        let zv = visual.logit(x, queryTerm: visualQueryTerm, hidden: visualHidden)
        let zk = keyword.logit(y, queryTerm: keywordQueryTerm, hidden: keywordHidden)
        let top = max(zv, zk)
        let ev = (zv - top).expValue
        let ek = (zk - top).expValue
        let betaV = ev / (ev + ek)
        return (betaV, 1 - betaV)
    }
}
