/// CAAN, the context-aware attention network (Zhang et al., CVPR 2020), adapted to amc-stream's data: one attention
/// over all of an image's fragments — its region cells and its keywords together — driven by the query words'
/// alignments with the fragments and by a context that aggregates the fragments aligning with the query alike.
///
/// ```
/// e_j = norm(tanh(E_qᵀ x_j + b_q))        one per query word        x_i = norm(W_v r_i + b_v)   regions
/// y   = Σ_j softmax_j(u·e_j) e_j          the query vector          x_i = norm(tanh(E_kᵀ x_l + b_k))  keywords
/// f_i = x_i + t_v (region) | x_i + t_k (keyword)                    the m = R + K fragments
/// H_ij = f_i·e_j;  P_·j = softmax_i(λ H_·j);  ρ_i = Σ_j P_ij (w_2·e_j)      inter-modal alignment
/// Ĥ_i = H_i / |H_i|;  κ_ik = 1 + Ĥ_i·Ĥ_k;  γ_i = Σ_k κ_ik (w_3·f_k) / Σ_k κ_ik = w_3·c_i   intra-modal context
/// g_i = w_1·f_i + ρ_i + γ_i;  a = softmax(g);  z = Σ_i a_i f_i;  s = cos(y, z)
/// ```
///
/// The second-order correlation `G = Ĥ Ĥᵀ` enters through the kernel `1 + G_ik` (linear in `G`), so the context of
/// every fragment costs `O(m Q)` through `Σ_k Ĥ_k` and `Σ_k (w_3·f_k) Ĥ_k` instead of a dense `m × m` matrix.
/// The online part is `w_1`, `w_2`, `w_3`, `λ` and the type vectors `t_v`, `t_k`; the cached image block holds the
/// type-free fragments `x_i`, so fine-tuning it keeps image encodings valid. See `Docs/model.md`.
public struct CAANModel: ScoringModel {
    /// `"caan"`.
    public static let architecture = "caan"
    /// 1: the equations above.
    public static let architectureVersion = 1
    /// `w_1`, `w_2`, `w_3`, `lambda`, `t_v`, `t_k`.
    public static let onlineTensorNames = [
        Tensor.fragmentWeight, .alignmentWeight, .contextWeight, .temperature, .regionType, .keywordType,
    ].map(\.rawValue)
    /// True: the image block holds the fragments without their type vectors, and nothing else of the online part.
    public static let onlinePartKeepsImageEncodings = true
    /// The initial alignment temperature `λ` (the cross attention of SCAN uses 9 over cosines).
    public static let initialTemperature: Float = 10

    /// The parameter tensors, in their fixed order.
    public enum Tensor: String, CaseIterable, Sendable, Hashable {
        /// `E_q` (H × d): query word trigram embedding table, one row per bucket.
        case queryEmbedding = "E_q"
        /// `b_q` (d): query word bias.
        case queryBias = "b_q"
        /// `u` (d): the query's attention over its words.
        case wordAttention = "u"
        /// `E_k` (H × d): keyword trigram embedding table, one row per bucket.
        case keywordEmbedding = "E_k"
        /// `b_k` (d): keyword bias.
        case keywordBias = "b_k"
        /// `W_v` (d × D): region projection.
        case regionWeight = "W_v"
        /// `b_v` (d): region bias.
        case regionBias = "b_v"
        /// `w_1` (d): a fragment's own logit weight.
        case fragmentWeight = "w_1"
        /// `w_2` (d): the weight of the query words a fragment attracts.
        case alignmentWeight = "w_2"
        /// `w_3` (d): the weight of a fragment's context.
        case contextWeight = "w_3"
        /// `λ` (1): the temperature of the words' attention over fragments.
        case temperature = "lambda"
        /// `t_v` (d): the type vector added to every region.
        case regionType = "t_v"
        /// `t_k` (d): the type vector added to every keyword.
        case keywordType = "t_k"

        /// The (rows, columns) shape.
        /// - Parameters:
        ///   - buckets: `H`.
        ///   - d: The embedding dimension.
        ///   - regionDimension: `D`.
        /// - Returns: Row-major shape.
        public func shape(buckets: Int, d: Int, regionDimension: Int) -> (rows: Int, columns: Int) {
            switch self {
            case .queryEmbedding, .keywordEmbedding: (buckets, d)
            case .regionWeight: (d, regionDimension)
            case .temperature: (1, 1)
            default: (d, 1)
            }
        }

        /// Position in ``ModelParameters/tensors``.
        var index: Int { Self.allCases.firstIndex(of: self)! }
    }

    /// The hyper-parameter names (all shared with AMC).
    public enum HyperParameter {
        /// `H`, the trigram hash buckets.
        public static let hashBuckets = AMCWeights.HyperParameter.hashBuckets
        /// `d`, the embedding dimension.
        public static let embeddingDimension = AMCWeights.HyperParameter.embeddingDimension
        /// `D`, the region feature dimension.
        public static let regionDimension = AMCWeights.HyperParameter.regionDimension
        /// The ranking hinge margin.
        public static let margin = AMCWeights.HyperParameter.margin
    }

    /// The parameters (the tensors in ``Tensor`` order).
    public let parameters: ModelParameters
    /// `H`.
    public let hashBuckets: Int
    /// `d`.
    public let embeddingDimension: Int
    /// `D`.
    public let regionDimension: Int
    /// The hinge margin.
    public let margin: Float
    /// The online vectors the per-(query, image) pass reads: `w_1 | w_3 | t_v | t_k` (d each).
    let onlineVectors: [Float]
    /// The per-model constants of the pass: `λ`, `w_1·t_v`, `w_1·t_k`, `w_3·t_v`, `w_3·t_k`.
    let onlineConstants: CAANWorkspace.Constants

    /// Fresh parameters: Glorot-uniform `E_q`, `E_k`, `W_v` from a seeded SplitMix64 (in ``Tensor`` order, each
    /// row-major, limit `sqrt(6 / (rows + columns))`), `λ` = ``initialTemperature`` and every other tensor zero (an
    /// untrained model attends evenly over the words and over the fragments).
    /// Hyper-parameters: `H`, `d`, `D`, `margin` (defaults those of ``ModelConfiguration``).
    public static func initialParameters(seed: UInt64, hyperParameters: [String: Double]) throws -> ModelParameters {
        typealias P = HyperParameter
        let defaults = ModelConfiguration()
        let buckets = try HyperParameters.dimension(P.hashBuckets, in: hyperParameters, default: defaults.hashBuckets)
        let d = try HyperParameters.dimension(
            P.embeddingDimension,
            in: hyperParameters,
            default: defaults.embeddingDimension
        )
        let regionDimension = try HyperParameters.dimension(
            P.regionDimension,
            in: hyperParameters,
            default: defaults.regionDimension
        )
        let margin = try HyperParameters.margin(in: hyperParameters, default: defaults.margin)
        var rng = SplitMix64(seed: seed)
        let tensors = Tensor.allCases.map { tensor in
            let shape = tensor.shape(buckets: buckets, d: d, regionDimension: regionDimension)
            var values = [Float](repeating: 0, count: shape.rows * shape.columns)
            switch tensor {
            case .queryEmbedding, .keywordEmbedding, .regionWeight:
                let limit = (6 / Float(shape.rows + shape.columns)).squareRoot()
                for i in values.indices { values[i] = rng.nextSymmetric(limit) }
            case .temperature:
                values[0] = initialTemperature
            default:
                break
            }
            return NamedTensor(name: tensor.rawValue, rows: shape.rows, columns: shape.columns, values: values)
        }
        return ModelParameters(
            architecture: architecture,
            hyperParameters: [
                P.hashBuckets: Double(buckets), P.embeddingDimension: Double(d),
                P.regionDimension: Double(regionDimension), P.margin: Double(margin),
            ],
            tensors: tensors
        )
    }

    /// Builds the model from CAAN parameters.
    /// - Parameter parameters: Parameters of this architecture.
    /// - Throws: ``ModelError`` (`shape_mismatch`) if the architecture, a hyper-parameter, a tensor's name or shape
    ///   does not match.
    public init(parameters: ModelParameters) throws {
        guard parameters.architecture == Self.architecture else {
            throw ModelError(.shapeMismatch, "parameters of architecture \(parameters.architecture), not caan")
        }
        typealias P = HyperParameter
        let values = parameters.hyperParameters
        for name in [P.hashBuckets, P.embeddingDimension, P.regionDimension, P.margin] where values[name] == nil {
            throw ModelError(.shapeMismatch, "hyper-parameter \(name) is missing")
        }
        hashBuckets = try HyperParameters.dimension(P.hashBuckets, in: values, default: 0)
        embeddingDimension = try HyperParameters.dimension(P.embeddingDimension, in: values, default: 0)
        regionDimension = try HyperParameters.dimension(P.regionDimension, in: values, default: 0)
        margin = try HyperParameters.margin(in: values, default: 0)
        guard parameters.tensors.count == Tensor.allCases.count else {
            throw ModelError(.shapeMismatch, "unexpected tensor count")
        }
        for (tensor, stored) in zip(Tensor.allCases, parameters.tensors) {
            let shape = tensor.shape(buckets: hashBuckets, d: embeddingDimension, regionDimension: regionDimension)
            guard stored.name == tensor.rawValue else {
                throw ModelError(.shapeMismatch, "expected tensor \(tensor.rawValue)")
            }
            guard stored.rows == shape.rows, stored.columns == shape.columns else {
                throw ModelError(.shapeMismatch, "tensor \(tensor.rawValue) has the wrong shape")
            }
        }
        self.parameters = parameters
        func stored(_ tensor: Tensor) -> [Float] { parameters.tensors[tensor.index].values }
        let (w1, w3) = (stored(.fragmentWeight), stored(.contextWeight))
        let (tv, tk) = (stored(.regionType), stored(.keywordType))
        onlineVectors = w1 + w3 + tv + tk
        func dot(_ x: [Float], _ y: [Float]) -> Float {
            x.withUnsafeBufferPointer { x in
                y.withUnsafeBufferPointer { y in Kernels.dot(x.baseAddress!, y.baseAddress!, x.count) }
            }
        }
        onlineConstants = CAANWorkspace.Constants(
            temperature: stored(.temperature)[0],
            fragmentRegionType: dot(w1, tv),
            fragmentKeywordType: dot(w1, tk),
            contextRegionType: dot(w3, tv),
            contextKeywordType: dot(w3, tk)
        )
    }

    /// One tensor's values.
    /// - Parameter tensor: The tensor.
    public subscript(tensor: Tensor) -> [Float] { parameters.tensors[tensor.index].values }

    // MARK: - Encoders

    /// Hashes a normalised query into one trigram bag per word (``QueryInput``) and encodes it.
    public func encodeQuery(_ text: String) -> EncodedQuery {
        let input = QueryInput(text, buckets: hashBuckets)
        return encodeWords(input.wordBags, bag: input.bag).query
    }

    /// The fragments `x_i` of each image (regions, then keywords), `(R + K) × d` floats per image.
    public func encodeImages(_ images: [ImageFeatures]) -> [EncodedImage] {
        let d = embeddingDimension
        var total = 0
        var largest = 0
        for image in images {
            precondition(
                image.regions.count == image.regionCount * regionDimension,
                "regions must be regionCount × regionDimension"
            )
            let m = image.regionCount + image.keywords.count
            total += m * d
            largest = max(largest, m)
        }
        // One allocation for the batch, as AMC's encodings (the serving catalog is encoded in batches).
        let storage = EncodedImageStorage(count: total)
        var raw = [Float](repeating: 0, count: largest * d)
        var norms = [Float](repeating: 0, count: largest)
        var offset = 0
        return images.map { image in
            let m = image.regionCount + image.keywords.count
            raw.withUnsafeMutableBufferPointer { raw in
                norms.withUnsafeMutableBufferPointer { norms in
                    encodeFragments(
                        image,
                        into: storage.base + offset,
                        raw: raw.baseAddress!,
                        norms: norms.baseAddress!
                    )
                }
            }
            let encoded = EncodedImage(
                regionCount: image.regionCount,
                keywordCount: image.keywords.count,
                storage: storage,
                offset: offset,
                count: m * d
            )
            offset += m * d
            return encoded
        }
    }

    /// Encodes query words: `e_j`, the word attention `π = softmax(u·e_j)`, `y = Σ_j π_j e_j` and the per-query terms
    /// `w_2·e_j`, `t_v·e_j`, `t_k·e_j`.
    /// - Parameters:
    ///   - words: One trigram bag per word, in order (none: `y = 0`, every score 0).
    ///   - bag: The whole query's bag (kept in ``EncodedQuery/input``).
    /// - Returns: The encoded query, and for the backward pass the words' `tanh` outputs (Q × d), their norms and π.
    func encodeWords(
        _ words: [SparseVector],
        bag: SparseVector
    ) -> (query: EncodedQuery, raw: [Float], norms: [Float], attention: [Float]) {
        let (d, q) = (embeddingDimension, words.count)
        // terms: e_j (Q × d) | w_2·e_j (Q) | t_v·e_j (Q) | t_k·e_j (Q)
        var terms = [Float](repeating: 0, count: q * (d + 3))
        var raw = [Float](repeating: 0, count: q * d)
        var norms = [Float](repeating: 0, count: q)
        var attention = [Float](repeating: 0, count: q)
        var y = [Float](repeating: 0, count: d)
        let (table, bias, u) = (self[.queryEmbedding], self[.queryBias], self[.wordAttention])
        let (w2, tv, tk) = (self[.alignmentWeight], self[.regionType], self[.keywordType])
        terms.withUnsafeMutableBufferPointer { terms in
            raw.withUnsafeMutableBufferPointer { raw in
                for (j, word) in words.enumerated() {
                    norms[j] = encodeText(
                        word,
                        table: table,
                        bias: bias,
                        raw: raw.baseAddress! + j * d,
                        into: terms.baseAddress! + j * d
                    )
                }
            }
        }
        // The attention and the pooled vector, over the stored e_j.
        terms.withUnsafeMutableBufferPointer { terms in
            let e = terms.baseAddress!
            attention.withUnsafeMutableBufferPointer { attention in
                let pi = VectorView(attention.baseAddress!, count: q)
                u.withUnsafeBufferPointer { u in
                    for j in 0..<q { pi[j] = Kernels.dot(u.baseAddress!, e + j * d, d) }
                }
                if q > 0 { pi.softmax() }
                y.withUnsafeMutableBufferPointer { y in
                    MatrixView(e, rows: q, columns: d).combineRows(
                        pi,
                        start: nil,
                        into: VectorView(y.baseAddress!, count: d)
                    )
                }
            }
            for (offset, vector) in [w2, tv, tk].enumerated() {
                vector.withUnsafeBufferPointer { v in
                    for j in 0..<q { e[q * d + offset * q + j] = Kernels.dot(v.baseAddress!, e + j * d, d) }
                }
            }
        }
        let norm = y.withUnsafeMutableBufferPointer { VectorView($0.baseAddress!, count: d).norm }
        return (EncodedQuery(input: bag, vector: y, terms: terms, norm: norm), raw, norms, attention)
    }

    /// `out = norm(tanh(Σ_b count_b · table[b, :] + bias))`; the `tanh` output goes to `raw`.
    /// - Returns: `sqrt(raw·raw + ε)`.
    func encodeText(
        _ bag: SparseVector,
        table: [Float],
        bias: [Float],
        raw: UnsafeMutablePointer<Float>,
        into out: UnsafeMutablePointer<Float>
    ) -> Float {
        let (d, buckets) = (embeddingDimension, hashBuckets)
        for index in bag.indices {
            precondition(index >= 0 && Int(index) < buckets, "sparse input index outside 0..<hashBuckets")
        }
        table.withUnsafeBufferPointer { table in
            bias.withUnsafeBufferPointer { bias in
                bag.indices.withUnsafeBufferPointer { indices in
                    bag.counts.withUnsafeBufferPointer { counts in
                        Kernels.gather(
                            raw,
                            start: bias.baseAddress!,
                            indices.baseAddress!,
                            counts.baseAddress!,
                            indices.count,
                            table.baseAddress!,
                            d
                        )
                    }
                }
            }
        }
        Kernels.tanhInPlace(raw, d)
        return Self.normalize(raw, into: out, d)
    }

    /// The fragments of one image: `x_i = norm(W_v r_i + b_v)` for the regions, then
    /// `x_i = norm(tanh(E_kᵀ x_l + b_k))` for the keywords, into `out` ((R + K) × d); the vectors before the
    /// normalisation go to `raw` and their norms to `norms` (for the backward pass).
    func encodeFragments(
        _ image: ImageFeatures,
        into out: UnsafeMutablePointer<Float>,
        raw: UnsafeMutablePointer<Float>,
        norms: UnsafeMutablePointer<Float>
    ) {
        let (d, dim, r) = (embeddingDimension, regionDimension, image.regionCount)
        let (weight, bias) = (self[.regionWeight], self[.regionBias])
        weight.withUnsafeBufferPointer { weight in
            image.regions.withUnsafeBufferPointer { features in
                for i in 0..<r {
                    let x = features.baseAddress! + i * dim
                    let p = raw + i * d
                    for j in 0..<d { p[j] = bias[j] + Kernels.dot(weight.baseAddress! + j * dim, x, dim) }
                    norms[i] = Self.normalize(p, into: out + i * d, d)
                }
            }
        }
        let (table, keywordBias) = (self[.keywordEmbedding], self[.keywordBias])
        for (l, bag) in image.keywords.enumerated() {
            let i = r + l
            norms[i] = encodeText(bag, table: table, bias: keywordBias, raw: raw + i * d, into: out + i * d)
        }
    }

    /// `out = x / sqrt(x·x + ε)`.
    /// - Returns: The norm `sqrt(x·x + ε)`.
    static func normalize(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
        let norm = (Kernels.dot(x, x, n) + AMCModel.normEpsilon).squareRoot()
        for j in 0..<n { out[j] = x[j] / norm }
        return norm
    }

    // MARK: - Scoring

    /// Scores encoded images: `cos(y, Σ_i a_i f_i)`, with the attention's modality totals as the mix
    /// (`visualWeight` = `Σ_regions a_i`, `languageWeight` = `1 − visualWeight`, the keywords' share).
    public func score(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoredImage] {
        forwardEach(query: query, encodedImages) { index, _, pass, _ in
            ScoredImage(
                index: index,
                score: pass.score,
                visualWeight: pass.visualWeight,
                languageWeight: pass.languageWeight
            )
        }
    }

    /// Explains each score by CAAN's fragment attention `a`: the mixing weights `visual` and `language` are its
    /// totals over the regions and over the keywords (``ScoredImage``'s weights), the region attention is `a` over
    /// the regions renormalised to sum to 1, the keyword attention `a` over the keywords renormalised likewise.
    public func explain(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoreExplanation] {
        forwardEach(query: query, encodedImages) { _, image, pass, workspace in
            let r = image.regionCount
            let attention = workspace.attention
            // Each modality's share renormalised; a share that underflowed to 0 is shown as an even spread.
            func renormalized(_ range: Range<Int>, _ total: Float) -> [Float] {
                total > 0 ? range.map { attention[$0] / total } : range.map { _ in 1 / Float(range.count) }
            }
            let regions = renormalized(0..<r, pass.regionAttentionTotal)
            let keywords = renormalized(r..<pass.fragmentCount, pass.keywordAttentionTotal)
            return ScoreExplanation(
                architecture: Self.architecture,
                score: pass.score,
                mixingWeights: [
                    ScoreExplanation.MixingWeight(name: AMCModel.visualWeightName, weight: pass.visualWeight),
                    ScoreExplanation.MixingWeight(name: AMCModel.languageWeightName, weight: pass.languageWeight),
                ],
                regionAttention: regions.isEmpty ? nil : ScoreExplanation.GridAttention(weights: regions),
                keywordAttention: ScoreExplanation.ItemWeight.ranked(keywords)
            )
        }
    }

    /// True when `other` is a CAAN model with the same dimensions and identical fragment encoders (`E_k`, `b_k`,
    /// `W_v`, `b_v`): images it encoded score the same under `other`.
    public func sharesImageEncodings(with other: any ScoringModel) -> Bool {
        guard let other = other as? CAANModel else { return false }
        return hashBuckets == other.hashBuckets && embeddingDimension == other.embeddingDimension
            && regionDimension == other.regionDimension
            && [Tensor.keywordEmbedding, .keywordBias, .regionWeight, .regionBias].allSatisfy {
                self[$0] == other[$0]
            }
    }

    /// Runs the per-(query, image) pass over each encoded image with one workspace, handing each result to `body`.
    private func forwardEach<Result>(
        query: EncodedQuery,
        _ images: [EncodedImage],
        _ body: (Int, EncodedImage, CAANWorkspace.Pass, CAANWorkspace) -> Result
    ) -> [Result] {
        let d = embeddingDimension
        precondition(query.vector.count == d && query.terms.count % (d + 3) == 0, "query encoded by another model")
        let words = query.terms.count / (d + 3)
        var largest = 0
        for image in images {
            let m = image.regionCount + image.keywordCount
            precondition(image.count == m * d, "image encoded by another architecture or dimensions")
            largest = max(largest, m)
        }
        let workspace = CAANWorkspace(d: d, fragments: largest, words: words)
        return withViews(query) { view, weights in
            images.enumerated().map { index, image in
                let pass = image.withValues { block in
                    workspace.forward(
                        fragments: block,
                        regionCount: image.regionCount,
                        fragmentCount: image.regionCount + image.keywordCount,
                        query: view,
                        online: weights
                    )
                }
                return body(index, image, pass, workspace)
            }
        }
    }

    /// Runs `body` with pointer views of an encoded query and of the online part.
    func withViews<Result>(
        _ query: EncodedQuery,
        _ body: (CAANWorkspace.Query, CAANWorkspace.Online) -> Result
    ) -> Result {
        let d = embeddingDimension
        return onlineVectors.withUnsafeBufferPointer { online in
            query.terms.withUnsafeBufferPointer { terms in
                query.vector.withUnsafeBufferPointer { y in
                    body(
                        CAANWorkspace.Query(
                            terms: terms.baseAddress!,
                            words: terms.count / (d + 3),
                            d: d,
                            vector: y.baseAddress!,
                            norm: query.norm
                        ),
                        CAANWorkspace.Online(vectors: online.baseAddress!, d: d, constants: onlineConstants)
                    )
                }
            }
        }
    }
}
