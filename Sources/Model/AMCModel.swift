/// The AMC scoring model (VAN + LAN + MTN, cosine score) over an immutable weights snapshot.
///
/// Pure math: no I/O, no shared mutable state. See `Docs/model.md` for the equations.
public struct AMCModel: Sendable {
    /// The parameters.
    public var weights: AMCWeights
    /// The dimensions (same as `weights.configuration`).
    public var configuration: ModelConfiguration { weights.configuration }

    /// Added to squared norms before the square root in the cosine, so tiny vectors never divide by zero.
    public static let normEpsilon: Float = 1e-8

    /// Wraps a weights snapshot.
    /// - Parameter weights: The parameters.
    public init(weights: AMCWeights) {
        self.weights = weights
    }

    // MARK: - Encoders

    /// Hashes and encodes a normalised query string.
    /// - Parameter text: The normalised query.
    /// - Returns: The encoded query.
    public func encodeQuery(_ text: String) -> EncodedQuery {
        encodeQuery(LetterTrigramHasher.encode(text, buckets: configuration.hashBuckets))
    }

    /// Encodes a query trigram bag: `q = tanh(W_q x_q + b_q)`, plus the per-query attention terms.
    /// - Parameter input: The trigram bag.
    /// - Returns: The encoded query.
    public func encodeQuery(_ input: SparseVector) -> EncodedQuery {
        let c = configuration
        let d = c.embeddingDimension
        var q = [Float](repeating: 0, count: d)
        Self.sparseTanhLayer(weights.wq, weights.bq, columns: c.hashBuckets, input: input, into: &q, at: 0)
        var visualTerm = [Float](repeating: 0, count: c.attentionDimension)
        var keywordTerm = [Float](repeating: 0, count: c.attentionDimension)
        Self.matVec(weights.aq, rows: c.attentionDimension, columns: d, q, 0, into: &visualTerm, at: 0)
        Self.matVec(weights.bqAttention, rows: c.attentionDimension, columns: d, q, 0, into: &keywordTerm, at: 0)
        return EncodedQuery(
            input: input,
            vector: q,
            visualQueryTerm: visualTerm,
            keywordQueryTerm: keywordTerm,
            norm: (Self.dot(q, 0, q, 0, count: d) + Self.normEpsilon).squareRoot()
        )
    }

    /// Hashes each keyword string into a trigram bag with this model's bucket count.
    /// - Parameter keywords: Normalised keyword strings.
    /// - Returns: One bag per keyword.
    public func keywordInputs(_ keywords: [String]) -> [SparseVector] {
        keywords.map { LetterTrigramHasher.encode($0, buckets: configuration.hashBuckets) }
    }

    // MARK: - Scoring

    /// Scores one image for an encoded query.
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - image: The image features.
    /// - Returns: Score and modality weights (index 0).
    public func score(query: EncodedQuery, image: ImageFeatures) -> ScoredImage {
        let f = forward(query, image)
        return ScoredImage(index: 0, score: f.score, visualWeight: f.betaV, languageWeight: f.betaK)
    }

    /// Scores many images for one query, encoding the query once.
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - images: The candidate images.
    /// - Returns: One ``ScoredImage`` per image, in input order (`index` is the position).
    public func score(query: EncodedQuery, images: [ImageFeatures]) -> [ScoredImage] {
        var result: [ScoredImage] = []
        result.reserveCapacity(images.count)
        for (i, image) in images.enumerated() {
            let f = forward(query, image)
            result.append(ScoredImage(index: i, score: f.score, visualWeight: f.betaV, languageWeight: f.betaK))
        }
        return result
    }

    /// Scores many images for a normalised query string.
    /// - Parameters:
    ///   - query: The normalised query.
    ///   - images: The candidate images.
    /// - Returns: One ``ScoredImage`` per image, in input order.
    public func score(query: String, images: [ImageFeatures]) -> [ScoredImage] {
        score(query: encodeQuery(query), images: images)
    }
}

// MARK: - Forward pass

/// Every intermediate of one (query, image) forward pass, kept for the backward pass.
struct ImageForward {
    var v: [Float]  // R × d
    var hv: [Float]  // R × a, tanh(A_v v_i + A_q q)
    var alpha: [Float]  // R
    var visual: [Float]  // d
    var k: [Float]  // K × d
    var hk: [Float]  // K × a
    var lambda: [Float]  // K
    var keyword: [Float]  // d
    var tv: [Float]  // h, tanh(M_v [q; visual] + c_v)
    var tk: [Float]  // h
    var hasVisual: Bool
    var hasKeyword: Bool
    var betaV: Float
    var betaK: Float
    var u: [Float]  // d
    var uNorm: Float
    var score: Float
}

extension AMCModel {
    func forward(_ query: EncodedQuery, _ image: ImageFeatures) -> ImageForward {
        let c = configuration
        let d = c.embeddingDimension
        let a = c.attentionDimension
        let h = c.modalityDimension
        let dim = c.regionDimension
        let r = image.regionCount
        let kc = image.keywords.count
        precondition(image.regions.count == r * dim, "regions must be regionCount × regionDimension")
        let q = query.vector

        // Region and keyword embeddings.
        var v = [Float](repeating: 0, count: r * d)
        for i in 0..<r {
            Self.matVec(weights.wv, rows: d, columns: dim, image.regions, i * dim, into: &v, at: i * d)
            for j in 0..<d { v[i * d + j] = (v[i * d + j] + weights.bv[j]).tanhValue }
        }
        var k = [Float](repeating: 0, count: kc * d)
        for (i, bag) in image.keywords.enumerated() {
            Self.sparseTanhLayer(weights.wk, weights.bk, columns: c.hashBuckets, input: bag, into: &k, at: i * d)
        }

        // VAN and LAN.
        var hv = [Float](repeating: 0, count: r * a)
        var alpha = [Float](repeating: 0, count: r)
        var visual = [Float](repeating: 0, count: d)
        Self.attend(
            items: v,
            count: r,
            d: d,
            a: a,
            project: weights.av,
            queryTerm: query.visualQueryTerm,
            score: weights.wa,
            hidden: &hv,
            weights: &alpha,
            pooled: &visual
        )
        var hk = [Float](repeating: 0, count: kc * a)
        var lambda = [Float](repeating: 0, count: kc)
        var keyword = [Float](repeating: 0, count: d)
        Self.attend(
            items: k,
            count: kc,
            d: d,
            a: a,
            project: weights.bkAttention,
            queryTerm: query.keywordQueryTerm,
            score: weights.wl,
            hidden: &hk,
            weights: &lambda,
            pooled: &keyword
        )

        // MTN.
        var tv = [Float](repeating: 0, count: h)
        var tk = [Float](repeating: 0, count: h)
        let hasVisual = r > 0
        let hasKeyword = kc > 0
        var betaV: Float = 1
        var betaK: Float = 0
        if hasVisual && hasKeyword {
            let zv = Self.modalityLogit(weights.mv, weights.cv, weights.mvScore, h: h, d: d, q, visual, into: &tv)
            let zk = Self.modalityLogit(weights.mk, weights.ck, weights.mkScore, h: h, d: d, q, keyword, into: &tk)
            let top = max(zv, zk)
            let ev = (zv - top).expValue
            let ek = (zk - top).expValue
            betaV = ev / (ev + ek)
            betaK = 1 - betaV
        } else if hasKeyword {
            betaV = 0
            betaK = 1
        }

        // Image representation and cosine score.
        var u = [Float](repeating: 0, count: d)
        for j in 0..<d { u[j] = betaV * visual[j] + betaK * keyword[j] }
        let uNorm = (Self.dot(u, 0, u, 0, count: d) + Self.normEpsilon).squareRoot()
        let score = Self.dot(q, 0, u, 0, count: d) / (query.norm * uNorm)
        return ImageForward(
            v: v,
            hv: hv,
            alpha: alpha,
            visual: visual,
            k: k,
            hk: hk,
            lambda: lambda,
            keyword: keyword,
            tv: tv,
            tk: tk,
            hasVisual: hasVisual,
            hasKeyword: hasKeyword,
            betaV: betaV,
            betaK: betaK,
            u: u,
            uNorm: uNorm,
            score: score
        )
    }

    /// Query-guided attention: `h_i = tanh(P x_i + t)`, `e_i = w·h_i`, `α = softmax(e)`, `pooled = Σ α_i x_i`.
    static func attend(
        items: [Float],
        count n: Int,
        d: Int,
        a: Int,
        project: [Float],
        queryTerm: [Float],
        score w: [Float],
        hidden: inout [Float],
        weights: inout [Float],
        pooled: inout [Float]
    ) {
        guard n > 0 else { return }
        var top = -Float.infinity
        for i in 0..<n {
            matVec(project, rows: a, columns: d, items, i * d, into: &hidden, at: i * a)
            var e: Float = 0
            for j in 0..<a {
                let value = (hidden[i * a + j] + queryTerm[j]).tanhValue
                hidden[i * a + j] = value
                e += w[j] * value
            }
            weights[i] = e
            top = max(top, e)
        }
        var total: Float = 0
        for i in 0..<n {
            weights[i] = (weights[i] - top).expValue
            total += weights[i]
        }
        for i in 0..<n {
            weights[i] /= total
            for j in 0..<d { pooled[j] += weights[i] * items[i * d + j] }
        }
    }

    /// `z = m · tanh(M [q; x] + c)`; writes the tanh activations into `hidden`.
    static func modalityLogit(
        _ matrix: [Float],
        _ bias: [Float],
        _ score: [Float],
        h: Int,
        d: Int,
        _ q: [Float],
        _ x: [Float],
        into hidden: inout [Float]
    ) -> Float {
        var z: Float = 0
        for row in 0..<h {
            let base = row * 2 * d
            let pre = bias[row] + dot(matrix, base, q, 0, count: d) + dot(matrix, base + d, x, 0, count: d)
            hidden[row] = pre.tanhValue
            z += score[row] * hidden[row]
        }
        return z
    }

    // MARK: - Kernels

    /// `out[at..<at+d] = tanh(W x + b)` for a sparse `x`, with `W` row-major d × columns.
    static func sparseTanhLayer(
        _ matrix: [Float],
        _ bias: [Float],
        columns: Int,
        input: SparseVector,
        into out: inout [Float],
        at offset: Int
    ) {
        precondition(
            (input.indices.first.map { $0 >= 0 } ?? true) && (input.indices.last.map { Int($0) < columns } ?? true),
            "sparse input index outside 0..<hashBuckets"
        )
        let d = bias.count
        for row in 0..<d {
            var sum = bias[row]
            let base = row * columns
            for (index, count) in zip(input.indices, input.counts) {
                sum += matrix[base + Int(index)] * count
            }
            out[offset + row] = sum.tanhValue
        }
    }

    /// `out[at..<at+rows] = W x[xOffset..<xOffset+columns]`, `W` row-major rows × columns.
    static func matVec(
        _ matrix: [Float],
        rows: Int,
        columns: Int,
        _ x: [Float],
        _ xOffset: Int,
        into out: inout [Float],
        at offset: Int
    ) {
        for row in 0..<rows {
            out[offset + row] = dot(matrix, row * columns, x, xOffset, count: columns)
        }
    }

    /// `Σ_i x[xOffset + i] · y[yOffset + i]`, with four interleaved accumulators (fixed order, so deterministic).
    static func dot(_ x: [Float], _ xOffset: Int, _ y: [Float], _ yOffset: Int, count: Int) -> Float {
        precondition(xOffset >= 0 && yOffset >= 0 && xOffset + count <= x.count && yOffset + count <= y.count)
        return x.withUnsafeBufferPointer { xb in
            y.withUnsafeBufferPointer { yb in
                let xp = xb.baseAddress! + xOffset
                let yp = yb.baseAddress! + yOffset
                var s0: Float = 0
                var s1: Float = 0
                var s2: Float = 0
                var s3: Float = 0
                var i = 0
                while i + 4 <= count {
                    s0 += xp[i] * yp[i]
                    s1 += xp[i + 1] * yp[i + 1]
                    s2 += xp[i + 2] * yp[i + 2]
                    s3 += xp[i + 3] * yp[i + 3]
                    i += 4
                }
                while i < count {
                    s0 += xp[i] * yp[i]
                    i += 1
                }
                return (s0 + s1) + (s2 + s3)
            }
        }
    }
}

// MARK: - Scalar math without Foundation

extension Float {
    /// `e^self`, computed in Double by ``Double/expApprox`` (platform independent, so results are bit-identical
    /// on every OS and libm).
    var expValue: Float { Float(Double(self).expApprox) }

    /// Hyperbolic tangent, `(e^{2x} − 1) / (e^{2x} + 1)` in Double, saturated beyond |x| > 20.
    var tanhValue: Float {
        let x = Double(self)
        if x > 20 { return 1 }
        if x < -20 { return -1 }
        let e2 = (2 * x).expApprox
        return Float((e2 - 1) / (e2 + 1))
    }
}

extension Double {
    /// `e^self` by range reduction `x = n ln2 + r`, |r| ≤ ln2/2, and a degree-11 Taylor polynomial in Horner form
    /// (truncation error < 1e-13 relative, far below Float precision). Clamped to [-700, 700]. Uses no libm call
    /// other than rounding, so it is bit-identical on every platform.
    var expApprox: Double {
        let x = Swift.min(Swift.max(self, -700), 700)
        let n = (x * 1.442_695_040_888_963_4).rounded()
        let r = (x - n * 0.693_147_180_369_123_8) - n * 1.908_214_929_270_587_7e-10
        var p = 1.0 / 39_916_800
        p = p * r + 1.0 / 3_628_800
        p = p * r + 1.0 / 362_880
        p = p * r + 1.0 / 40_320
        p = p * r + 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        return Double(sign: .plus, exponent: Int(n), significand: p)
    }
}
