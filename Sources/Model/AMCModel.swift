/// The AMC scoring model (VAN + LAN + MTN, cosine score) over an immutable weights snapshot.
///
/// Pure math: no I/O, no shared mutable state. See `Docs/model.md` for the equations.
///
/// The model keeps a packed copy of its weights (the layouts the SIMD kernels read, see `PackedWeights`);
/// creating a model or assigning ``weights`` rebuilds it (about a millisecond with the default dimensions).
public struct AMCModel: Sendable {
    /// The parameters. Assigning (or mutating) them rebuilds the packed copy.
    public var weights: AMCWeights {
        get { storage }
        set {
            storage = newValue
            packed = PackedWeights(newValue)
        }
        _modify {
            defer { packed = PackedWeights(storage) }
            yield &storage
        }
    }
    /// Which modalities build the image representation (``ModalityMode/attention`` is the AMC model).
    public var mode: ModalityMode
    /// The dimensions (same as `weights.configuration`).
    public var configuration: ModelConfiguration { storage.configuration }

    /// The canonical weights (kept in sync with `packed`).
    var storage: AMCWeights
    /// The same weights in kernel layout.
    var packed: PackedWeights

    /// Added to squared norms before the square root in the cosine, so tiny vectors never divide by zero.
    public static let normEpsilon: Float = 1e-8

    /// Wraps a weights snapshot.
    /// - Parameters:
    ///   - weights: The parameters.
    ///   - mode: Which modalities build `u`; default: the full attention model.
    public init(weights: AMCWeights, mode: ModalityMode = .attention) {
        self.storage = weights
        self.packed = PackedWeights(weights)
        self.mode = mode
    }

    // MARK: - Encoders

    /// Hashes and encodes a normalised query string.
    /// - Parameter text: The normalised query.
    /// - Returns: The encoded query.
    public func encodeQuery(_ text: String) -> EncodedQuery {
        encodeQuery(LetterTrigramHasher.encode(text, buckets: configuration.hashBuckets))
    }

    /// Encodes a query trigram bag: `q = tanh(W_q x_q + b_q)`, plus the per-query attention and MTN terms.
    /// - Parameter input: The trigram bag.
    /// - Returns: The encoded query.
    public func encodeQuery(_ input: SparseVector) -> EncodedQuery {
        let c = configuration
        var scratch = EngineScratch(c, gradientCount: 0, slots: 1, regions: 0, keywords: 0)
        return scratch.withEngine(packed, mode: mode, margin: c.margin) { engine, _ in
            let norm = engine.encodeQuery(input)
            let termCount = 2 * c.attentionDimension + 2 * c.modalityDimension
            return EncodedQuery(
                input: input,
                vector: Array(UnsafeBufferPointer(start: engine.s + engine.sl.q, count: c.embeddingDimension)),
                terms: Array(UnsafeBufferPointer(start: engine.s + engine.sl.visualQueryTerm, count: termCount)),
                norm: norm
            )
        }
    }

    /// Whether `query` has the shape of this model's query encodings (the engine reads it through raw pointers).
    func isOwnEncoding(_ query: EncodedQuery) -> Bool {
        let c = configuration
        return query.vector.count == c.embeddingDimension
            && query.terms.count == 2 * c.attentionDimension + 2 * c.modalityDimension
    }

    // MARK: - Scoring

    /// Scores one image for an encoded query.
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - image: The image features.
    /// - Returns: Score and modality weights (index 0).
    public func score(query: EncodedQuery, image: ImageFeatures) -> ScoredImage {
        score(query: query, images: [image])[0]
    }

    /// Scores many images for one query, encoding the query once and reusing one scratch buffer for every image.
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - images: The candidate images.
    /// - Returns: One ``ScoredImage`` per image, in input order (`index` is the position).
    public func score(query: EncodedQuery, images: [ImageFeatures]) -> [ScoredImage] {
        forwardEach(query: query, images) { engine, index in engine.scoredImage(slot: 0, index: index) }
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

// MARK: - One forward pass per candidate

/// What the query-dependent forward pass can run on: raw image features or an image this model encoded.
protocol ForwardInput {
    /// R.
    var regionCount: Int { get }
    /// K.
    var keywordCount: Int { get }
    /// Runs the forward pass of this image into slot 0 (the query must be loaded).
    func forward(in engine: Engine, queryNorm: Float)
}

extension ImageFeatures: ForwardInput {
    var keywordCount: Int { keywords.count }

    func forward(in engine: Engine, queryNorm: Float) { engine.forward(self, slot: 0, queryNorm: queryNorm) }
}

extension EncodedImage: ForwardInput {
    func forward(in engine: Engine, queryNorm: Float) { engine.forward(self, slot: 0, queryNorm: queryNorm) }
}

extension AMCModel {
    /// Runs the forward pass of each image in turn for one encoded query, with one scratch buffer sized for the
    /// largest, and returns what `read` takes from the engine after each (slot 0; `read` gets the image's position).
    func forwardEach<Input: ForwardInput, Result>(
        query: EncodedQuery,
        _ images: [Input],
        _ read: (Engine, Int) -> Result
    ) -> [Result] {
        var regions = 0
        var keywords = 0
        for image in images {
            regions = max(regions, image.regionCount)
            keywords = max(keywords, image.keywordCount)
        }
        let c = configuration
        var scratch = EngineScratch(c, gradientCount: 0, slots: 1, regions: regions, keywords: keywords)
        return scratch.withEngine(packed, mode: mode, margin: c.margin) { engine, _ in
            precondition(isOwnEncoding(query), "query encoded by another architecture or dimensions")
            engine.load(query)
            return images.enumerated().map { index, image in
                image.forward(in: engine, queryNorm: query.norm)
                return read(engine, index)
            }
        }
    }
}

extension Engine {
    /// The score and modality weights of the image in slot `slot`, as its last forward pass left them.
    func scoredImage(slot: Int, index: Int) -> ScoredImage {
        let info = infos[slot]
        return ScoredImage(index: index, score: info.score, visualWeight: info.betaV, languageWeight: info.betaK)
    }
}

// MARK: - Scalar math without Foundation

extension Float {
    /// `e^self`, computed in Double by ``Double/expApprox`` (platform independent, so results are bit-identical
    /// on every OS and libm).
    var expValue: Float { Float(Double(self).expApprox) }

    /// Hyperbolic tangent in `Float`: `tanh|x| ≈ c·P(c²) / Q(c²)` with `c = min(|x|, 7.9053…)`, a rational minimax
    /// form (``TanhConstants``: `P` degree 6, `Q` degree 3 in `c²`, each in Horner form with fused multiply–adds);
    /// the sign of `x` is copied back; |x| > 9 gives ±1 and |x| < 2^-12 gives x. Max error 4.9 ulp (≤ 2.92e-7
    /// absolute). Only `Float` multiplications, fused multiply–adds, one division, comparisons and bit operations,
    /// so it is bit-identical on every platform, and `Kernels.tanh8` does the same operations eight lanes at a time.
    var tanhValue: Float {
        typealias K = TanhConstants
        let ax = Float(bitPattern: bitPattern & K.magnitudeMask)
        let xc = ax > K.clamp ? K.clamp : ax
        let x2 = xc * xc
        var p = K.p11.addingProduct(x2, K.p13)
        p = K.p9.addingProduct(x2, p)
        p = K.p7.addingProduct(x2, p)
        p = K.p5.addingProduct(x2, p)
        p = K.p3.addingProduct(x2, p)
        p = K.p1.addingProduct(x2, p)
        var q = K.q4.addingProduct(x2, K.q6)
        q = K.q2.addingProduct(x2, q)
        q = K.q0.addingProduct(x2, q)
        var result = (xc * p) / q
        if ax > K.saturation { result = 1 }
        if ax < K.linear { result = ax }
        return Float(bitPattern: result.bitPattern | (bitPattern & K.signMask))
    }
}

extension Double {
    /// `e^self` by range reduction `x = n ln2 + r`, |r| ≤ ln2/2, and a degree-11 Taylor polynomial in Horner form
    /// with fused multiply–adds (truncation error < 1e-13 relative, far below Float precision). Clamped to [-700, 700]; `n` is rounded to
    /// nearest (ties to even) by adding `1.5 · 2^52`, and `2^n` is built from its bit pattern. Uses no libm call,
    /// so it is bit-identical on every platform.
    var expApprox: Double {
        var x = self
        if x > 700 { x = 700 }
        if x < -700 { x = -700 }
        let shifted = x * ExpConstants.log2e + ExpConstants.roundingMagic
        let n = shifted - ExpConstants.roundingMagic
        let r = (x - n * ExpConstants.ln2High) - n * ExpConstants.ln2Low
        var p = ExpConstants.c11
        p = ExpConstants.c10.addingProduct(p, r)
        p = ExpConstants.c9.addingProduct(p, r)
        p = ExpConstants.c8.addingProduct(p, r)
        p = ExpConstants.c7.addingProduct(p, r)
        p = ExpConstants.c6.addingProduct(p, r)
        p = ExpConstants.c5.addingProduct(p, r)
        p = ExpConstants.c4.addingProduct(p, r)
        p = ExpConstants.c3.addingProduct(p, r)
        p = ExpConstants.c2.addingProduct(p, r)
        p = (1 as Double).addingProduct(p, r)
        p = (1 as Double).addingProduct(p, r)
        let exponent = Int64(bitPattern: shifted.bitPattern) &- ExpConstants.roundingMagicBits &+ 1023
        return p * Double(bitPattern: UInt64(bitPattern: exponent &<< 52))
    }
}
