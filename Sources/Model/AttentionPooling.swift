/// Query-guided attention pooling over a set of items (AMC's VAN over region cells, its LAN over keywords):
///
/// ```
/// h_i = tanh(P x_i + t)        P: a×d, t = Q q (the query term, computed once per query)
/// e_i = w · h_i                w: a
/// α   = softmax(e)
/// pooled = Σ_i α_i x_i
/// ```
///
/// `P x_i` does not depend on the query, so it can be computed once per image (``project(_:into:)``) and passed
/// to ``forward(items:projected:queryTerm:hidden:weights:pooled:)``, or projected into `hidden` just before; the
/// hidden layer is `(P x_i) + t` either way, so both give the same bits. Any architecture with an attention over
/// items can reuse it.
struct AttentionPooling {
    /// `Pᵀ` (d × a), input-major: `P x = Pᵀ.combineRows(x)`.
    let projectionT: MatrixView
    /// `P` (a × d), row-major, for the backward pass.
    let projection: MatrixView
    /// `Qᵀ` (d × a): the query's projection.
    let queryProjectionT: MatrixView
    /// `w` (a).
    let score: VectorView

    /// `P x_i` for every item (a row each).
    func project(_ items: MatrixView, into out: MatrixView) {
        projectionT.combineRows(ofEach: items, start: nil, into: out)
    }

    /// `t = Q q`.
    func queryTerm(_ q: VectorView, into out: VectorView) {
        queryProjectionT.combineRows(q, start: nil, into: out)
    }

    /// The forward pass: `hidden` (n × a) gets `h_i`, `weights` (n) gets `α`, `pooled` (d) the pooled vector.
    /// - Parameters:
    ///   - items: The items `x_i`, read where they are stored (`Float`, or a compact catalog's `Float16`: the same
    ///     bits for the same values).
    ///   - projected: Their `P x_i` (n × a), stored alike; it may be `hidden` (projected there by
    ///     ``project(_:into:)``: the tanh is taken in place).
    func forward<Items: AttentionItems>(
        items: Items,
        projected: Items,
        queryTerm t: VectorView,
        hidden: MatrixView,
        weights alpha: VectorView,
        pooled: VectorView
    ) {
        let n = items.rows
        precondition(projected.rows == n, "one projection per item")
        // h_i = tanh(P x_i + t)
        projected.tanhOfSums(plus: t, into: hidden.rows(0..<n))
        // e_i = w · h_i, α = softmax(e)
        hidden.rows(0..<n).dots(score, into: alpha)
        alpha.softmax()
        // pooled = Σ_i α_i x_i
        items.weightedSum(alpha, into: pooled)
    }

    /// The backward pass given `dPooled = ∂L/∂pooled`: writes `∂L/∂x_i` to `dItems` (n × d) and adds into
    /// `dProjection` (∂L/∂P, a × d), `dScore` (∂L/∂w) and `dQueryTerm` (∂L/∂t).
    /// - Parameters:
    ///   - dWeights: Scratch for `∂L/∂α` (n).
    ///   - dHidden: Scratch for the hidden layer's pre-activation gradients (n × a).
    func backward(
        items: MatrixView,
        hidden: MatrixView,
        weights alpha: VectorView,
        dPooled: VectorView,
        dItems: MatrixView,
        dProjection: MatrixView,
        dScore: VectorView,
        dQueryTerm: VectorView,
        dWeights dAlpha: VectorView,
        dHidden pre: MatrixView
    ) {
        let n = items.rows
        let a = hidden.columns
        // ∂L/∂α_i = dPooled · x_i; ∂L/∂e_i = α_i (∂L/∂α_i − Σ_j α_j ∂L/∂α_j)
        var weighted: Float = 0
        for i in 0..<n {
            dAlpha[i] = dPooled.dot(items[i])
            weighted += alpha[i] * dAlpha[i]
        }
        for i in 0..<n {
            let de = alpha[i] * (dAlpha[i] - weighted)
            let hi = hidden[i]
            dScore.add(de, times: hi)
            // ∂L/∂(pre-activation) = de · w ⊙ (1 − h²)
            let pi = pre[i]
            for row in 0..<a {
                let value = hi[row]
                pi[row] = de * score[row] * (1 - value * value)
            }
            dQueryTerm.add(pi)
            // ∂L/∂x_i = α_i dPooled + Pᵀ pre_i
            let di = dItems[i]
            di.assign(alpha[i], times: dPooled)
            projection.combineRows(pi, start: di, into: di)
        }
        // ∂L/∂P += Σ_i pre_i ⊗ x_i
        dProjection.accumulateOuterProducts(pre.rows(0..<n), items)
    }
}
