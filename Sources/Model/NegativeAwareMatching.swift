/// Negative-aware matching of query words against one set of image fragments (after NAAF, Zhang et al., CVPR 2022,
/// as AMS scores each scale), with `s_ij = f_i · e_j` for fragment `i` and word `j`:
///
/// ```
/// m_j = max_i s_ij                                            (the first maximum: i*_j)
/// n_j = min(0, m_j − t)                                       negative part: the best match is below t
/// a_ij = exp(λ (s_ij − m_j)),  ā_ij = a_ij / Σ_k a_kj          relevance softmax over all fragments
/// p_j = Σ_i ā_ij s_ij                                         relevance-weighted part
/// u_ij = a_ij (s_ij − t) for s_ij > t (else 0),  w_ij = u_ij / Σ_k u_kj     positive weights over P_j = {i : s_ij > t}
/// c_j = Σ_i w_ij f_i,  f_j = c_j · e_j / (|c_j| |e_j|) − t       positive part (0 when P_j is empty)
/// S = (1/Q) Σ_j (n_j + f_j + p_j)
/// ```
///
/// `|x| = sqrt(x·x + ε)` as everywhere in the model. Unlike NAAF's masked softmax, the positive weights vanish at
/// the threshold and the positive part is measured from it, so `S` is continuous in the similarities and in `t`
/// (NAAF's jumps by about `t` when a word's best match crosses `t`), which lets `t` be learned by gradient. See
/// `Docs/model.md`.
struct NegativeAwareMatching {
    /// The softmax temperature λ.
    let lambda: Float

    /// The forward pass over `fragments` (n × d) and `words` (Q × d, their norms `|e_j|` in `wordNorms`); the
    /// per-word records go to `scratch` (for the backward pass and the explanation).
    /// - Returns: `S` (0 when there are no words or no fragments).
    func forward(
        fragments: MatrixView,
        words: MatrixView,
        wordNorms: UnsafePointer<Float>,
        threshold t: Float,
        scratch: NegativeAwareScratch
    ) -> Float {
        let (n, q, d) = (fragments.rows, words.rows, words.columns)
        guard n > 0, q > 0 else { return 0 }
        precondition(scratch.fragmentCapacity >= n && scratch.wordCapacity >= q, "scratch too small")
        var total: Float = 0
        for j in 0..<q {
            let e = words[j]
            let s = scratch.similarities + j * n
            let a = scratch.relevance + j * n
            let w = scratch.positive + j * n
            let scale = scratch.positiveScale + j * n
            var top = -Float.infinity
            var topIndex = 0
            for i in 0..<n {
                let value = fragments[i].dot(e)
                s[i] = value
                if value > top {
                    top = value
                    topIndex = i
                }
            }
            scratch.maxIndex[j] = topIndex
            let negative = top < t ? top - t : 0
            // a_ij = exp(λ s_ij − λ m_j); u_ij = a_ij (s_ij − t) over P_j; both summed in fragment order.
            for i in 0..<n { a[i] = lambda * s[i] }
            Kernels.expOfDifference(a, minus: lambda * top, n)
            var sum: Float = 0
            var positiveSum: Float = 0
            for i in 0..<n {
                sum += a[i]
                w[i] = s[i] > t ? a[i] * (s[i] - t) : 0
                positiveSum += w[i]
            }
            // P_j counts as empty when Σu underflows (m_j − t below ~1e-38: the positive part is 0 to that precision),
            // so a_ij / Σu stays finite.
            let hasPositive = top > t && positiveSum >= Float.leastNormalMagnitude
            var relevance: Float = 0
            for i in 0..<n {
                if hasPositive && w[i] != 0 {
                    scale[i] = a[i] / positiveSum
                    w[i] /= positiveSum
                } else {
                    scale[i] = 0
                    w[i] = 0
                }
                a[i] /= sum
                relevance += a[i] * s[i]
            }
            var positive: Float = 0
            let c = VectorView(scratch.contexts + j * d, count: d)
            if hasPositive {
                fragments.combineRows(VectorView(w, count: n), start: nil, into: c)
                let cNorm = c.norm
                scratch.contextNorms[j] = cNorm
                positive = c.dot(e) / (cNorm * wordNorms[j]) - t
            } else {
                c.zero()
                scratch.contextNorms[j] = 0
            }
            scratch.parts[3 * j] = negative
            scratch.parts[3 * j + 1] = positive
            scratch.parts[3 * j + 2] = relevance
            total += negative + positive + relevance
        }
        return total / Float(q)
    }

    /// Where the backward pass writes `∂L/∂f_i` (added to `fragments`, n × d) and `∂L/∂e_j` (added to `words`,
    /// Q × d), with scratch for one word's `∂L/∂s_·j` (n).
    struct InputGradients {
        let fragments: MatrixView
        let words: MatrixView
        let similarities: UnsafeMutablePointer<Float>
    }

    /// The backward pass of the last forward, given `dS = ∂L/∂S`.
    /// - Parameter inputs: Where to add the fragments' and words' gradients; nil: only `∂L/∂t` is computed.
    /// - Returns: `∂L/∂t`.
    func backward(
        fragments: MatrixView,
        words: MatrixView,
        wordNorms: UnsafePointer<Float>,
        threshold t: Float,
        dS: Float,
        scratch: NegativeAwareScratch,
        inputs: InputGradients?
    ) -> Float {
        let (n, q, d) = (fragments.rows, words.rows, words.columns)
        guard n > 0, q > 0, dS != 0 else { return 0 }
        let g = dS / Float(q)
        var dt: Float = 0
        for j in 0..<q {
            let e = words[j]
            let s = scratch.similarities + j * n
            let a = scratch.relevance + j * n
            let w = scratch.positive + j * n
            let scale = scratch.positiveScale + j * n
            let ds = inputs?.similarities
            let relevance = scratch.parts[3 * j + 2]
            // p_j: ∂p/∂s_i = ā_i (1 + λ (s_i − p)).
            if let ds { for i in 0..<n { ds[i] = g * a[i] * (1 + lambda * (s[i] - relevance)) } }
            // n_j: ∂n/∂s_{i*} = 1, ∂n/∂t = −1 when m_j < t.
            let top = scratch.maxIndex[j]
            if s[top] < t {
                ds?[top] += g
                dt -= g
            }
            if scratch.contextNorms[j] > 0 {
                // f_j = cos(c_j, e_j) − t: ∂cos/∂c = e/(|c||e|) − cos c/|c|², ∂cos/∂e = c/(|c||e|) − cos e/|e|².
                let c = VectorView(scratch.contexts + j * d, count: d)
                let (cNorm, eNorm) = (scratch.contextNorms[j], wordNorms[j])
                let cosine = c.dot(e) / (cNorm * eNorm)
                dt -= g
                let dc = VectorView(scratch.contextGradient, count: d)
                dc.assign(g / (cNorm * eNorm), times: e)
                dc.add(-g * cosine / (cNorm * cNorm), times: c)
                if let inputs {
                    let de = inputs.words[j]
                    de.add(g / (cNorm * eNorm), times: c)
                    de.add(-g * cosine / (eNorm * eNorm), times: e)
                }
                // c = Σ_i w_i f_i: ∂w_i = dc · f_i (and ∂f_i += w_i dc). w = u / Σu: ∂u_i = (∂w_i − Σ_k w_k ∂w_k) / Σu;
                // u_i = a_i (s_i − t): ∂s_i += ∂u_i a_i (λ (s_i − t) + 1) = (∂w_i − Σ w ∂w)(λ w_i + a_i/Σu),
                // ∂t −= (∂w_i − Σ w ∂w) a_i/Σu.
                var mixed: Float = 0
                for i in 0..<n where w[i] != 0 {
                    let dw = dc.dot(fragments[i])
                    scratch.positiveGradient[i] = dw
                    mixed += w[i] * dw
                    inputs?.fragments[i].add(w[i], times: dc)
                }
                for i in 0..<n where w[i] != 0 {
                    let du = scratch.positiveGradient[i] - mixed
                    ds?[i] += du * (lambda * w[i] + scale[i])
                    dt -= du * scale[i]
                }
            }
            // s_ij = f_i · e_j.
            if let inputs, let ds {
                let de = inputs.words[j]
                for i in 0..<n where ds[i] != 0 {
                    inputs.fragments[i].add(ds[i], times: e)
                    de.add(ds[i], times: fragments[i])
                }
            }
        }
        return dt
    }
}

/// Scratch buffers of ``NegativeAwareMatching`` for up to `wordCapacity` words and `fragmentCapacity` fragments of
/// dimension `dimension`: one allocation, reused for every image and scale of a scoring call.
final class NegativeAwareScratch {
    let wordCapacity: Int
    let fragmentCapacity: Int
    let dimension: Int
    /// `s_ij`, word-major (Q × n).
    let similarities: UnsafeMutablePointer<Float>
    /// `ā_ij`, word-major (Q × n).
    let relevance: UnsafeMutablePointer<Float>
    /// `w_ij`, word-major (Q × n); 0 outside `P_j`.
    let positive: UnsafeMutablePointer<Float>
    /// `a_ij / Σ_k u_kj`, word-major (Q × n); 0 outside `P_j`.
    let positiveScale: UnsafeMutablePointer<Float>
    /// `c_j` (Q × d).
    let contexts: UnsafeMutablePointer<Float>
    /// `|c_j|` (Q; 0 when `P_j` is empty: the positive part is 0).
    let contextNorms: UnsafeMutablePointer<Float>
    /// `n_j, f_j, p_j` per word (Q × 3).
    let parts: UnsafeMutablePointer<Float>
    /// `i*_j` (Q).
    let maxIndex: UnsafeMutablePointer<Int>
    /// Backward scratch: `∂L/∂c_j` (d) and `∂L/∂w_·j` (n).
    let contextGradient: UnsafeMutablePointer<Float>
    let positiveGradient: UnsafeMutablePointer<Float>
    private let storage: UnsafeMutablePointer<Float>

    init(words: Int, fragments: Int, dimension d: Int) {
        (wordCapacity, fragmentCapacity, dimension) = (words, fragments, d)
        let (q, n) = (max(words, 1), max(fragments, 1))
        let sizes = [q * n, q * n, q * n, q * n, q * d, q, 3 * q, d, n]
        storage = .allocate(capacity: sizes.reduce(0, +))
        storage.initialize(repeating: 0, count: sizes.reduce(0, +))
        var offsets: [Int] = []
        var offset = 0
        for size in sizes {
            offsets.append(offset)
            offset += size
        }
        similarities = storage + offsets[0]
        relevance = storage + offsets[1]
        positive = storage + offsets[2]
        positiveScale = storage + offsets[3]
        contexts = storage + offsets[4]
        contextNorms = storage + offsets[5]
        parts = storage + offsets[6]
        contextGradient = storage + offsets[7]
        positiveGradient = storage + offsets[8]
        maxIndex = .allocate(capacity: q)
        maxIndex.initialize(repeating: 0, count: q)
    }

    deinit {
        storage.deallocate()
        maxIndex.deallocate()
    }

    /// The attention of the last forward over `n` fragments for `q` words: per word the positive softmax `w_·j` when
    /// `P_j` is not empty, else the relevance softmax `ā_·j`, averaged over the words (sums to 1).
    func attention(words q: Int, fragments n: Int) -> [Float] {
        var result = [Float](repeating: 0, count: n)
        guard q > 0, n > 0 else { return result }
        for j in 0..<q {
            let source = contextNorms[j] > 0 ? positive + j * n : relevance + j * n
            for i in 0..<n { result[i] += source[i] }
        }
        for i in 0..<n { result[i] /= Float(q) }
        return result
    }
}
