/// The scratch of CAAN's per-(query, image) pass (``CAANModel``): one allocation, reused for every image of a
/// request (scoring) or kept per image of a training example (its intermediates feed the backward pass).
///
/// For `m` fragments and `Q` words it holds, in this order: `H` (Q × m, word-major), `P = softmax_i(λ H)` (Q × m),
/// `Ĥ` (m × Q, fragment-major), `|H_i|` (m), `w_1·f_i` (m), `φ_i = w_3·f_i` (m), the context's numerators and
/// denominators (m each), the logits and then the attention `a` (m), `S = Σ_i Ĥ_i` (Q), `T = Σ_i φ_i Ĥ_i` (Q) and
/// `z` (d).
final class CAANWorkspace {
    /// Per-model constants of the pass.
    struct Constants: Sendable {
        /// `λ`.
        var temperature: Float
        /// `w_1·t_v`.
        var fragmentRegionType: Float
        /// `w_1·t_k`.
        var fragmentKeywordType: Float
        /// `w_3·t_v`.
        var contextRegionType: Float
        /// `w_3·t_k`.
        var contextKeywordType: Float
    }

    /// An encoded query's parts (``EncodedQuery``: `vector` = `y`, `terms` = `e_j` (Q × d) | `w_2·e_j` | `t_v·e_j` |
    /// `t_k·e_j` (Q each)).
    struct Query {
        let terms: UnsafePointer<Float>
        let words: Int
        let d: Int
        /// `y` (d).
        let vector: UnsafePointer<Float>
        /// `sqrt(y·y + ε)`.
        let norm: Float

        /// `e_j`.
        func word(_ j: Int) -> UnsafePointer<Float> { terms + j * d }
        /// `w_2·e_j` (Q).
        var alignmentTerms: UnsafePointer<Float> { terms + words * d }
        /// `t_v·e_j` (Q).
        var regionTerms: UnsafePointer<Float> { terms + words * d + words }
        /// `t_k·e_j` (Q).
        var keywordTerms: UnsafePointer<Float> { terms + words * d + 2 * words }
    }

    /// The online vectors `w_1 | w_3 | t_v | t_k` and the constants.
    struct Online {
        let vectors: UnsafePointer<Float>
        let d: Int
        let constants: Constants

        var fragmentWeight: UnsafePointer<Float> { vectors }
        var contextWeight: UnsafePointer<Float> { vectors + d }
        var regionType: UnsafePointer<Float> { vectors + 2 * d }
        var keywordType: UnsafePointer<Float> { vectors + 3 * d }
    }

    /// What a pass computed besides its intermediates.
    struct Pass {
        /// `cos(y, z)` (0 for an image without fragments or a query without words).
        var score: Float
        /// `m = R + K`.
        var fragmentCount: Int
        /// `Σ_{i < R} a_i`.
        var regionAttentionTotal: Float
        /// `Σ_{i ≥ R} a_i`.
        var keywordAttentionTotal: Float
        /// The reported mix: `Σ_regions a_i`, exactly 1 with regions only and 0 with keywords only (1 without
        /// fragments, as AMC).
        var visualWeight: Float
        /// `1 − visualWeight`.
        var languageWeight: Float
        /// `sqrt(z·z + ε)`.
        var imageNorm: Float
    }

    let d: Int
    let fragmentCapacity: Int
    let wordCapacity: Int
    private let buffer: UnsafeMutablePointer<Float>
    /// The last pass's `m` and `Q`, which lay out the buffer.
    private(set) var fragments = 0
    private(set) var words = 0

    /// A workspace for up to `fragments` fragments and `words` words.
    init(d: Int, fragments: Int, words: Int) {
        self.d = d
        fragmentCapacity = fragments
        wordCapacity = words
        let count = 3 * words * fragments + 6 * fragments + 2 * words + d
        buffer = .allocate(capacity: max(count, 1))
        buffer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { buffer.deallocate() }

    var alignment: UnsafeMutablePointer<Float> { buffer }
    var crossAttention: UnsafeMutablePointer<Float> { buffer + words * fragments }
    var normalized: UnsafeMutablePointer<Float> { buffer + 2 * words * fragments }
    var rowNorms: UnsafeMutablePointer<Float> { buffer + 3 * words * fragments }
    var linear: UnsafeMutablePointer<Float> { rowNorms + fragments }
    var context: UnsafeMutablePointer<Float> { rowNorms + 2 * fragments }
    var numerators: UnsafeMutablePointer<Float> { rowNorms + 3 * fragments }
    var denominators: UnsafeMutablePointer<Float> { rowNorms + 4 * fragments }
    var attention: UnsafeMutablePointer<Float> { rowNorms + 5 * fragments }
    var sums: UnsafeMutablePointer<Float> { rowNorms + 6 * fragments }
    var weightedSums: UnsafeMutablePointer<Float> { sums + words }
    var image: UnsafeMutablePointer<Float> { sums + 2 * words }

    /// The pass over one image's fragments `x` (m × d, regions first): everything from `H` to the score.
    func forward(
        fragments x: UnsafePointer<Float>,
        regionCount r: Int,
        fragmentCount m: Int,
        query: Query,
        online: Online
    ) -> Pass {
        let q = query.words
        precondition(m <= fragmentCapacity && q <= wordCapacity && query.d == d, "workspace too small")
        (fragments, words) = (m, q)
        let z = VectorView(image, count: d)
        guard m > 0 else {
            z.zero()
            return Pass(
                score: 0,
                fragmentCount: 0,
                regionAttentionTotal: 0,
                keywordAttentionTotal: 0,
                visualWeight: 1,
                languageWeight: 0,
                imageNorm: 0
            )
        }
        let c = online.constants
        let (h, p, hat) = (alignment, crossAttention, normalized)
        // w_1·f_i, φ_i = w_3·f_i and H_ij = f_i·e_j, with f_i = x_i + t and t's dot products precomputed.
        for i in 0..<m {
            let xi = x + i * d
            let region = i < r
            linear[i] =
                Kernels.dot(online.fragmentWeight, xi, d) + (region ? c.fragmentRegionType : c.fragmentKeywordType)
            context[i] =
                Kernels.dot(online.contextWeight, xi, d) + (region ? c.contextRegionType : c.contextKeywordType)
            let typeTerms = region ? query.regionTerms : query.keywordTerms
            for j in 0..<q { h[j * m + i] = Kernels.dot(xi, query.word(j), d) + typeTerms[j] }
        }
        // P_·j = softmax_i(λ H_·j): each word's attention over the fragments.
        for j in 0..<q {
            let row = VectorView(p + j * m, count: m)
            for i in 0..<m { row[i] = c.temperature * h[j * m + i] }
            row.softmax()
        }
        // Ĥ_i = H_i / sqrt(H_i·H_i + ε): a fragment's alignment profile over the words.
        for i in 0..<m {
            var squares: Float = 0
            for j in 0..<q { squares += h[j * m + i] * h[j * m + i] }
            let norm = (squares + AMCModel.normEpsilon).squareRoot()
            rowNorms[i] = norm
            for j in 0..<q { hat[i * q + j] = h[j * m + i] / norm }
        }
        // S = Σ_i Ĥ_i, T = Σ_i φ_i Ĥ_i, Φ = Σ_i φ_i (in fragment order).
        var contextTotal: Float = 0
        for j in 0..<q {
            sums[j] = 0
            weightedSums[j] = 0
        }
        for i in 0..<m {
            contextTotal += context[i]
            for j in 0..<q {
                sums[j] += hat[i * q + j]
                weightedSums[j] += context[i] * hat[i * q + j]
            }
        }
        // g_i = w_1·f_i + Σ_j P_ij (w_2·e_j) + (Φ + Ĥ_i·T) / (m + Ĥ_i·S); a = softmax(g).
        let omega = query.alignmentTerms
        for i in 0..<m {
            var numerator = contextTotal
            var denominator = Float(m)
            var aligned: Float = 0
            for j in 0..<q {
                let value = hat[i * q + j]
                numerator += value * weightedSums[j]
                denominator += value * sums[j]
                aligned += p[j * m + i] * omega[j]
            }
            numerators[i] = numerator
            denominators[i] = denominator
            attention[i] = linear[i] + aligned + numerator / denominator
        }
        let a = VectorView(attention, count: m)
        a.softmax()
        // z = Σ_i a_i x_i + (Σ_regions a_i) t_v + (Σ_keywords a_i) t_k.
        MatrixView(x, rows: m, columns: d).combineRows(a, start: nil, into: z)
        var regionTotal: Float = 0
        for i in 0..<r { regionTotal += a[i] }
        var keywordTotal: Float = 0
        for i in r..<m { keywordTotal += a[i] }
        z.add(regionTotal, times: VectorView(online.regionType, count: d))
        z.add(keywordTotal, times: VectorView(online.keywordType, count: d))
        let imageNorm = z.norm
        let score = Kernels.dot(query.vector, image, d) / (query.norm * imageNorm)
        let visual: Float = r == 0 ? 0 : r == m ? 1 : regionTotal
        return Pass(
            score: score,
            fragmentCount: m,
            regionAttentionTotal: regionTotal,
            keywordAttentionTotal: keywordTotal,
            visualWeight: visual,
            languageWeight: 1 - visual,
            imageNorm: imageNorm
        )
    }
}
