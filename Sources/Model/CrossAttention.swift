/// SCAN's stacked cross attention (Lee et al., 2018) between an image's fragments `f_1..f_n` (regions or keywords,
/// the rows of a matrix) and a query's words `e_1..e_Q`, in both directions, with a hand-written backward pass.
///
/// With `s_ij = f_i·e_j` and `l_ij = relu_0.1(s_ij)` (leaky, slope 0.1):
///
/// ```
/// text-to-image:  ū_ij = l_ij / sqrt(Σ_j' l_ij'² + ε)          (normalised over words, per fragment)
///                 α_j  = softmax_i(λ1 ū_ij),  a_j = Σ_i α_ji f_i,  R_j = cos(e_j, a_j)
///                 S_t2i = (1/Q) Σ_j R_j
/// image-to-text:  w_ij = l_ij / sqrt(Σ_i' l_i'j² + ε)          (normalised over fragments, per word)
///                 β_i  = softmax_j(λ1' w_ij), a'_i = Σ_j β_ij e_j, R'_i = cos(f_i, a'_i)
///                 S_i2t = (1/λ2) log Σ_i exp(λ2 R'_i)           (LogSumExp pooling)
/// ```
///
/// `cos(x, y) = x·y / (sqrt(x·x + ε) sqrt(y·y + ε))`, `ε` = ``AMCModel/normEpsilon``. Every operation reads and
/// writes ``MatrixView``s; all intermediate state lives in a caller-owned ``CrossAttentionWorkspace``, so a forward
/// pass allocates nothing. ``backward(fragments:words:temperatures:workspace:dScores:dAttended:dFragments:dWords:)``
/// reads the state its workspace's last ``forward(fragments:words:temperatures:workspace:)`` left. Used by
/// ``CASCModel``'s region and keyword branches; see `Docs/model.md`.
enum CrossAttention {
    /// The slope of the leaky ReLU on the similarities.
    static let leakySlope: Float = 0.1

    /// The temperatures of one cross attention.
    struct Temperatures: Sendable, Hashable {
        /// `λ1`: the text-to-image softmax over fragments.
        var textToImage: Float
        /// `λ1'`: the image-to-text softmax over words.
        var imageToText: Float
        /// `λ2`: the LogSumExp pooling of the image-to-text relevances.
        var pooling: Float
    }

    /// The two pooled scores of one forward pass.
    struct Scores: Sendable, Hashable {
        /// `S_t2i`.
        var textToImage: Float
        /// `S_i2t`.
        var imageToText: Float
    }

    /// `∂L/∂λ` of one backward pass.
    struct TemperatureGradients: Sendable, Hashable {
        /// `∂L/∂λ1`.
        var textToImage: Float = 0
        /// `∂L/∂λ1'`.
        var imageToText: Float = 0
        /// `∂L/∂λ2`.
        var pooling: Float = 0
    }

    // MARK: - Forward

    /// Both directions for `fragments` (n × d, n ≥ 1) and `words` (Q × d, Q ≥ 1); the state for the backward pass and
    /// for ``averageTextToImageWeights(into:)`` stays in `workspace`.
    /// - Returns: `S_t2i` and `S_i2t`.
    static func forward(
        fragments: MatrixView,
        words: MatrixView,
        temperatures: Temperatures,
        workspace: CrossAttentionWorkspace
    ) -> Scores {
        similarities(fragments: fragments, words: words, workspace: workspace)
        let t2i = textToImage(fragments: fragments, words: words, temperature: temperatures.textToImage, workspace)
        let i2t = imageToText(
            fragments: fragments,
            words: words,
            temperature: temperatures.imageToText,
            pooling: temperatures.pooling,
            workspace
        )
        return Scores(textToImage: t2i, imageToText: i2t)
    }

    /// `l_ij = relu_0.1(f_i·e_j)` (n × Q) and the norms of every fragment and word.
    static func similarities(fragments: MatrixView, words: MatrixView, workspace ws: CrossAttentionWorkspace) {
        precondition(fragments.columns == words.columns, "cross attention: fragments and words differ in dimension")
        ws.prepare(fragmentCount: fragments.rows, wordCount: words.rows, dimension: words.columns)
        let (n, q, d) = (fragments.rows, words.rows, words.columns)
        // The hot loops index the workspace's contiguous buffers directly.
        let (leaky, similarities, gram) = (ws.leaky.base, ws.similarities.base, ws.wordGram.base)
        for i in 0..<n {
            let f = fragments.base + i * fragments.stride
            for j in 0..<q {
                let s = Kernels.dot(f, words.base + j * words.stride, d)
                similarities[i * q + j] = s
                leaky[i * q + j] = s > 0 ? s : leakySlope * s
            }
            ws.fragmentNorms[i] = fragments[i].norm
        }
        for j in 0..<q {
            ws.wordNorms[j] = words[j].norm
            for k in 0..<q {
                gram[j * q + k] = Kernels.dot(words.base + j * words.stride, words.base + k * words.stride, d)
            }
        }
    }

    /// Text-to-image attention (``similarities(fragments:words:workspace:)`` first): each word attends over the
    /// fragments.
    /// - Returns: `S_t2i = mean_j cos(e_j, a_j)`.
    static func textToImage(
        fragments: MatrixView,
        words: MatrixView,
        temperature lambda: Float,
        _ ws: CrossAttentionWorkspace
    ) -> Float {
        let (n, q) = (ws.fragmentCount, ws.wordCount)
        let (weights, attended) = (ws.t2iWeights, ws.t2iAttended)
        let (leaky, normalised, alpha, scales) = (ws.leaky.base, ws.t2iNormalised.base, weights.base, ws.t2iScales.base)
        // ū_ij = l_ij / sqrt(Σ_j l_ij² + ε)
        for i in 0..<n {
            let row = leaky + i * q
            let scale = (Kernels.dot(row, row, q) + AMCModel.normEpsilon).squareRoot()
            scales[i] = scale
            for j in 0..<q { normalised[i * q + j] = row[j] / scale }
        }
        // α_j = softmax_i(λ1 ū_ij), a_j = Σ_i α_ji f_i, R_j = cos(e_j, a_j)
        for j in 0..<q {
            for i in 0..<n { alpha[j * n + i] = lambda * normalised[i * q + j] }
        }
        weights.softmaxRows()
        var total: Float = 0
        for j in 0..<q {
            fragments.combineRows(weights[j], start: nil, into: attended[j])
            let norm = attended[j].norm
            ws.t2iAttendedNorms[j] = norm
            let relevance = attended[j].dot(words[j]) / (norm * ws.wordNorms[j])
            ws.t2iRelevances[j] = relevance
            total += relevance
        }
        return total / Float(q)
    }

    /// Image-to-text attention (``similarities(fragments:words:workspace:)`` first): each fragment attends over the
    /// words.
    /// - Returns: `S_i2t = (1/λ2) log Σ_i exp(λ2 cos(f_i, a'_i))`.
    static func imageToText(
        fragments: MatrixView,
        words: MatrixView,
        temperature lambda: Float,
        pooling: Float,
        _ ws: CrossAttentionWorkspace
    ) -> Float {
        let (n, q) = (ws.fragmentCount, ws.wordCount)
        let (leaky, normalised, weights) = (ws.leaky.base, ws.i2tNormalised.base, ws.i2tWeights)
        let (similarities, gram, beta, scales) = (
            ws.similarities.base, ws.wordGram.base, weights.base, ws.i2tScales.base
        )
        let (norms, relevances, fragmentNorms) = (
            ws.i2tAttendedNorms.base, ws.i2tRelevances.base, ws.fragmentNorms.base
        )
        // w_ij = l_ij / sqrt(Σ_i l_ij² + ε)
        for j in 0..<q {
            var sum: Float = 0
            for i in 0..<n { sum += leaky[i * q + j] * leaky[i * q + j] }
            scales[j] = (sum + AMCModel.normEpsilon).squareRoot()
        }
        // β_i = softmax_j(λ1' w_ij), a'_i = Σ_j β_ij e_j, R'_i = cos(f_i, a'_i) — without forming a'_i:
        // a'_i·f_i = Σ_j β_ij s_ij and a'_i·a'_i = Σ_j β_ij (Σ_k G_jk β_ik) with the words' Gram matrix G = E Eᵀ.
        for i in 0..<n {
            for j in 0..<q {
                let w = leaky[i * q + j] / scales[j]
                normalised[i * q + j] = w
                beta[i * q + j] = lambda * w
            }
        }
        weights.softmaxRows()
        var top = -Float.infinity
        for i in 0..<n {
            let row = beta + i * q
            var dot: Float = 0
            var square: Float = 0
            for j in 0..<q {
                dot += row[j] * similarities[i * q + j]
                var product: Float = 0
                for k in 0..<q { product += gram[j * q + k] * row[k] }
                square += row[j] * product
            }
            let norm = (square + AMCModel.normEpsilon).squareRoot()
            norms[i] = norm
            let relevance = dot / (norm * fragmentNorms[i])
            relevances[i] = relevance
            top = max(top, pooling * relevance)
        }
        // LogSumExp: π = softmax(λ2 R'), S = (top + log Σ exp(λ2 R'_i − top)) / λ2
        let pool = ws.poolWeights
        for i in 0..<n { pool[i] = pooling * ws.i2tRelevances[i] }
        Kernels.expOfDifference(pool.base, minus: top, n)
        var sum: Float = 0
        for i in 0..<n { sum += pool[i] }
        for i in 0..<n { pool[i] /= sum }
        let score = (top + sum.logValue) / pooling
        ws.i2tScore = score
        return score
    }

    /// The text-to-image attention averaged over the words, `mean_j α_ji` (n weights summing to 1), of the last
    /// forward pass: how much each fragment was attended to.
    static func averageTextToImageWeights(_ ws: CrossAttentionWorkspace, into out: VectorView) {
        let (n, q) = (ws.fragmentCount, ws.wordCount)
        precondition(out.count == n, "averageTextToImageWeights: one weight per fragment")
        out.zero()
        for j in 0..<q { out.add(ws.t2iWeights[j]) }
        for i in 0..<n { out[i] /= Float(q) }
    }

    // MARK: - Backward

    /// The backward pass of the workspace's last ``forward(fragments:words:temperatures:workspace:)`` on the same
    /// inputs.
    /// - Parameters:
    ///   - dScores: `∂L/∂S_t2i` and `∂L/∂S_i2t`.
    ///   - dAttended: An extra `∂L/∂a_j` (Q × d) for the text-to-image attended vectors when they are read elsewhere
    ///     (``CASCModel``'s gate reads their mean); nil: none.
    ///   - dFragments: Adds `∂L/∂f_i` (n × d) when given.
    ///   - dWords: Adds `∂L/∂e_j` (Q × d) when given. With neither, only the temperatures' gradients are computed.
    /// - Returns: `∂L/∂λ1`, `∂L/∂λ1'`, `∂L/∂λ2`.
    static func backward(
        fragments: MatrixView,
        words: MatrixView,
        temperatures: Temperatures,
        workspace ws: CrossAttentionWorkspace,
        dScores: Scores,
        dAttended: MatrixView?,
        dFragments: MatrixView?,
        dWords: MatrixView?
    ) -> TemperatureGradients {
        precondition(fragments.rows == ws.fragmentCount && words.rows == ws.wordCount, "backward of another forward")
        var gradients = TemperatureGradients()
        let inputs = dFragments != nil || dWords != nil
        if inputs { ws.dLeaky.rows(0..<ws.fragmentCount).zeroRows() }
        gradients.textToImage = textToImageBackward(
            fragments: fragments,
            words: words,
            temperature: temperatures.textToImage,
            ws,
            dScore: dScores.textToImage,
            dAttended: dAttended,
            dFragments: dFragments,
            dWords: dWords
        )
        (gradients.imageToText, gradients.pooling) = imageToTextBackward(
            fragments: fragments,
            words: words,
            temperature: temperatures.imageToText,
            pooling: temperatures.pooling,
            ws,
            dScore: dScores.imageToText,
            dFragments: dFragments,
            dWords: dWords
        )
        if inputs { similaritiesBackward(fragments: fragments, words: words, ws, dFragments, dWords) }
        return gradients
    }

    /// Backward of ``textToImage(fragments:words:temperature:_:)``: adds `∂L/∂l_ij` to the workspace's `dLeaky`
    /// (when the inputs' gradients are wanted) and the attended vectors' direct gradients to `dFragments`/`dWords`.
    /// - Returns: `∂L/∂λ1`.
    static func textToImageBackward(
        fragments: MatrixView,
        words: MatrixView,
        temperature lambda: Float,
        _ ws: CrossAttentionWorkspace,
        dScore: Float,
        dAttended: MatrixView?,
        dFragments: MatrixView?,
        dWords: MatrixView?
    ) -> Float {
        let (n, q) = (ws.fragmentCount, ws.wordCount)
        let inputs = dFragments != nil || dWords != nil
        let (normalised, weights, attended) = (ws.t2iNormalised, ws.t2iWeights, ws.t2iAttended)
        let dA = ws.dVector
        let dAlpha = ws.dWeights
        let dU = ws.dNormalised
        var dLambda: Float = 0
        for j in 0..<q {
            // R_j = a·e / (|a| |e|): ∂R/∂a = e/(|a||e|) − R a/|a|², ∂R/∂e = a/(|a||e|) − R e/|e|²
            let dR = dScore / Float(q)
            let (a, e) = (attended[j], words[j])
            let (na, ne, r) = (ws.t2iAttendedNorms[j], ws.wordNorms[j], ws.t2iRelevances[j])
            dA.assign(dR / (na * ne), times: e)
            dA.add(-dR * r / (na * na), times: a)
            if let dAttended { dA.add(dAttended[j]) }
            if let dWords {
                dWords[j].add(dR / (na * ne), times: a)
                dWords[j].add(-dR * r / (ne * ne), times: e)
            }
            // a_j = Σ_i α_ji f_i; α_j = softmax(λ1 ū_·j): ∂z_i = α_i (∂α_i − Σ_k α_k ∂α_k)
            let alpha = weights[j]
            var weighted: Float = 0
            for i in 0..<n {
                dAlpha[i] = dA.dot(fragments[i])
                weighted += alpha[i] * dAlpha[i]
            }
            for i in 0..<n {
                let dz = alpha[i] * (dAlpha[i] - weighted)
                dLambda += dz * normalised[i][j]
                if inputs { dU[i][j] = lambda * dz }
            }
            if let dFragments {
                for i in 0..<n { dFragments[i].add(alpha[i], times: dA) }
            }
        }
        guard inputs else { return dLambda }
        // ū_ij = l_ij / N_i, N_i = sqrt(Σ_j l_ij² + ε): ∂l_ij = (∂ū_ij − ū_ij Σ_k ∂ū_ik ū_ik) / N_i
        for i in 0..<n {
            let (u, du, dl) = (normalised[i], dU[i], ws.dLeaky[i])
            let projection = du.dot(u)
            let scale = ws.t2iScales[i]
            for j in 0..<q { dl[j] += (du[j] - u[j] * projection) / scale }
        }
        return dLambda
    }

    /// Backward of ``imageToText(fragments:words:temperature:pooling:_:)``, as ``textToImageBackward``.
    /// - Returns: `∂L/∂λ1'` and `∂L/∂λ2`.
    static func imageToTextBackward(
        fragments: MatrixView,
        words: MatrixView,
        temperature lambda: Float,
        pooling: Float,
        _ ws: CrossAttentionWorkspace,
        dScore: Float,
        dFragments: MatrixView?,
        dWords: MatrixView?
    ) -> (imageToText: Float, pooling: Float) {
        let (n, q) = (ws.fragmentCount, ws.wordCount)
        let inputs = dFragments != nil || dWords != nil
        let (normalised, weights, pool) = (ws.i2tNormalised, ws.i2tWeights, ws.poolWeights)
        // S = (1/λ2) log Σ exp(λ2 R'_i): ∂S/∂R'_i = π_i, ∂S/∂λ2 = (Σ π_i R'_i − S) / λ2
        var pooled: Float = 0
        for i in 0..<n { pooled += pool[i] * ws.i2tRelevances[i] }
        let dPooling = dScore * (pooled - ws.i2tScore) / pooling
        let dA = ws.dVector
        let dBeta = ws.dWeights
        let dW = ws.dNormalised
        var dLambda: Float = 0
        for i in 0..<n {
            let dR = dScore * pool[i]
            // a'_i, formed here only (the forward pass needs just its products).
            let (f, a) = (fragments[i], ws.i2tAttended)
            words.combineRows(weights[i], start: nil, into: a)
            let (nf, na, r) = (ws.fragmentNorms[i], ws.i2tAttendedNorms[i], ws.i2tRelevances[i])
            if let dFragments {
                dFragments[i].add(dR / (nf * na), times: a)
                dFragments[i].add(-dR * r / (nf * nf), times: f)
            }
            dA.assign(dR / (nf * na), times: f)
            dA.add(-dR * r / (na * na), times: a)
            // a'_i = Σ_j β_ij e_j; β_i = softmax(λ1' w_i·)
            let beta = weights[i]
            var weighted: Float = 0
            for j in 0..<q {
                dBeta[j] = dA.dot(words[j])
                weighted += beta[j] * dBeta[j]
                if let dWords { dWords[j].add(beta[j], times: dA) }
            }
            for j in 0..<q {
                let dz = beta[j] * (dBeta[j] - weighted)
                dLambda += dz * normalised[i][j]
                if inputs { dW[i][j] = lambda * dz }
            }
        }
        guard inputs else { return (dLambda, dPooling) }
        // w_ij = l_ij / M_j, M_j = sqrt(Σ_i l_ij² + ε): ∂l_ij = (∂w_ij − w_ij Σ_k ∂w_kj w_kj) / M_j
        for j in 0..<q {
            var projection: Float = 0
            for i in 0..<n { projection += dW[i][j] * normalised[i][j] }
            let scale = ws.i2tScales[j]
            for i in 0..<n { ws.dLeaky[i][j] += (dW[i][j] - normalised[i][j] * projection) / scale }
        }
        return (dLambda, dPooling)
    }

    /// Backward of ``similarities(fragments:words:workspace:)``: `∂s_ij = ∂l_ij · (1 or 0.1)`, then
    /// `∂f_i += Σ_j ∂s_ij e_j` and `∂e_j += Σ_i ∂s_ij f_i`.
    private static func similaritiesBackward(
        fragments: MatrixView,
        words: MatrixView,
        _ ws: CrossAttentionWorkspace,
        _ dFragments: MatrixView?,
        _ dWords: MatrixView?
    ) {
        let (n, q) = (ws.fragmentCount, ws.wordCount)
        for i in 0..<n {
            let (l, dl) = (ws.leaky[i], ws.dLeaky[i])
            for j in 0..<q {
                let ds = l[j] > 0 ? dl[j] : leakySlope * dl[j]
                dFragments?[i].add(ds, times: words[j])
                dWords?[j].add(ds, times: fragments[i])
            }
        }
    }
}

/// The caller-owned scratch of ``CrossAttention``: every intermediate of one forward pass over at most
/// `fragmentCapacity` fragments and `wordCapacity` words of dimension `dimension`, and the backward pass's scratch,
/// in one allocation made once (a scorer keeps one per branch for a whole request).
final class CrossAttentionWorkspace {
    let fragmentCapacity: Int
    let wordCapacity: Int
    let dimension: Int
    /// n and Q of the last forward pass.
    private(set) var fragmentCount = 0
    private(set) var wordCount = 0
    /// `S_i2t` of the last forward pass.
    var i2tScore: Float = 0

    private let storage: UnsafeMutablePointer<Float>
    private let storageCount: Int
    private let offsets: [Int]

    /// Room for `fragmentCapacity` fragments and `wordCapacity` words of `dimension` floats.
    init(fragmentCapacity fragments: Int, wordCapacity words: Int, dimension d: Int) {
        let (n, q) = (max(fragments, 1), max(words, 1))
        fragmentCapacity = n
        wordCapacity = q
        dimension = d
        let sizes = [
            n * q, n * q, n, q * n, q * d, q, q, q,  // leaky, t2i ū, N_i, α, a, R, |a|, |e|
            n * q, q, n * q, d, n, n, n, n,  // i2t w, M_j, β, a' (backward), R', |a'|, |f|, π
            n * q, n * q, max(n, q), d,  // dLeaky, dNormalised, dWeights, dVector
            n * q, q * q,  // s, G
        ]
        var offsets: [Int] = []
        var total = 0
        for size in sizes {
            offsets.append(total)
            total += size
        }
        self.offsets = offsets
        storageCount = total
        storage = .allocate(capacity: total)
        storage.initialize(repeating: 0, count: total)
    }

    deinit { storage.deallocate() }

    /// Sets the sizes of a new forward pass.
    func prepare(fragmentCount n: Int, wordCount q: Int, dimension d: Int) {
        precondition(n >= 1 && q >= 1, "cross attention needs at least one fragment and one word")
        precondition(
            n <= fragmentCapacity && q <= wordCapacity && d == dimension,
            "cross attention workspace too small"
        )
        fragmentCount = n
        wordCount = q
    }

    private func matrix(_ slot: Int, rows: Int, columns: Int) -> MatrixView {
        MatrixView(storage + offsets[slot], rows: rows, columns: columns)
    }

    private func vector(_ slot: Int, count: Int) -> VectorView {
        VectorView(storage + offsets[slot], count: count)
    }

    private var n: Int { fragmentCount }
    private var q: Int { wordCount }

    /// `l_ij` (n × Q).
    var leaky: MatrixView { matrix(0, rows: n, columns: q) }
    /// `ū_ij` (n × Q).
    var t2iNormalised: MatrixView { matrix(1, rows: n, columns: q) }
    /// `N_i` (n).
    var t2iScales: VectorView { vector(2, count: n) }
    /// `α_ji` (Q × n, one row per word).
    var t2iWeights: MatrixView { matrix(3, rows: q, columns: n) }
    /// `a_j` (Q × d).
    var t2iAttended: MatrixView { matrix(4, rows: q, columns: dimension) }
    /// `R_j` (Q).
    var t2iRelevances: VectorView { vector(5, count: q) }
    /// `|a_j|` (Q).
    var t2iAttendedNorms: VectorView { vector(6, count: q) }
    /// `|e_j|` (Q).
    var wordNorms: VectorView { vector(7, count: q) }
    /// `w_ij` (n × Q).
    var i2tNormalised: MatrixView { matrix(8, rows: n, columns: q) }
    /// `M_j` (Q).
    var i2tScales: VectorView { vector(9, count: q) }
    /// `β_ij` (n × Q, one row per fragment).
    var i2tWeights: MatrixView { matrix(10, rows: n, columns: q) }
    /// `a'_i` of the fragment the backward pass is at (d).
    var i2tAttended: VectorView { vector(11, count: dimension) }
    /// `R'_i` (n).
    var i2tRelevances: VectorView { vector(12, count: n) }
    /// `|a'_i|` (n).
    var i2tAttendedNorms: VectorView { vector(13, count: n) }
    /// `|f_i|` (n).
    var fragmentNorms: VectorView { vector(14, count: n) }
    /// `π_i = softmax_i(λ2 R'_i)` (n).
    var poolWeights: VectorView { vector(15, count: n) }
    /// `∂L/∂l_ij` (n × Q).
    var dLeaky: MatrixView { matrix(16, rows: n, columns: q) }
    /// `∂L/∂ū_ij` or `∂L/∂w_ij` (n × Q).
    var dNormalised: MatrixView { matrix(17, rows: n, columns: q) }
    /// `∂L/∂α_j·` or `∂L/∂β_i·` (max(n, Q)).
    var dWeights: VectorView { vector(18, count: max(n, q)) }
    /// `∂L/∂a_j` or `∂L/∂a'_i` (d).
    var dVector: VectorView { vector(19, count: dimension) }
    /// `s_ij = f_i·e_j` (n × Q).
    var similarities: MatrixView { matrix(20, rows: n, columns: q) }
    /// `G_jk = e_j·e_k` (Q × Q).
    var wordGram: MatrixView { matrix(21, rows: q, columns: q) }
}

extension MatrixView {
    /// Each row `= softmax(row)`, exactly ``VectorView/softmax()`` per row (the same bits), with the exponentials of
    /// the whole matrix in one vectorised pass when its rows are contiguous (rows as short as a query's words would
    /// otherwise take the scalar path one row at a time).
    func softmaxRows() {
        guard stride == columns else {
            for i in 0..<rows { self[i].softmax() }
            return
        }
        for i in 0..<rows {
            let row = base + i * columns
            var top = -Float.infinity
            for j in 0..<columns { top = max(top, row[j]) }
            for j in 0..<columns { row[j] = row[j] - top }
        }
        Kernels.expOfDifference(base, minus: 0, rows * columns)
        for i in 0..<rows {
            let row = base + i * columns
            var total: Float = 0
            for j in 0..<columns { total += row[j] }
            for j in 0..<columns { row[j] /= total }
        }
    }

    /// Every element of the view = 0.
    func zeroRows() {
        for i in 0..<rows { self[i].zero() }
    }
}

// MARK: - Logarithm without libm

extension Float {
    /// `ln(self)` for a positive finite value, by ``Swift/Double/logApprox`` (bit-identical on every platform).
    var logValue: Float { Float(Double(self).logApprox) }
}

extension Double {
    /// `ln(self)` for a positive finite value: `self = m · 2^k` with `m ∈ [√½, √2)`, `ln m = 2 atanh(t)`,
    /// `t = (m − 1)/(m + 1)`, `|t| ≤ 0.172`, by its odd series to `t^23` (truncation < 1e-17 relative), plus `k ln 2`.
    /// Uses no libm call, so it is bit-identical on every platform. 0 gives −∞; a negative value or NaN gives NaN.
    var logApprox: Double {
        guard self > 0 else { return self == 0 ? -.infinity : .nan }
        guard isFinite else { return self }
        var value = self
        var exponent = 0
        if value < 0x1p-1022 {  // subnormal: scale into the normal range first
            value *= 0x1p54
            exponent = -54
        }
        let bits = value.bitPattern
        exponent += Int((bits >> 52) & 0x7ff) - 1023
        var m = Double(bitPattern: (bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000)
        if m > 1.414_213_562_373_095_1 {
            m /= 2
            exponent += 1
        }
        let t = (m - 1) / (m + 1)
        let t2 = t * t
        var p = 1.0 / 23
        for k in stride(from: 21, through: 1, by: -2) { p = p * t2 + 1 / Double(k) }
        return Double(exponent) * ExpConstants.ln2High + (Double(exponent) * ExpConstants.ln2Low + 2 * t * p)
    }
}
