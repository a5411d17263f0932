/// Late fusion with a learned per-query mix: the second scoring architecture, and the smallest one that uses both
/// modalities.
///
/// Two encoders and no attention. The query `q = tanh(E_qᵀ x_q + b_q)` and each keyword
/// `k_l = tanh(E_kᵀ x_l + b_k)` go through letter-trigram embedding tables (one row per hash bucket), each region
/// `v_i = tanh(W_v r_i + b_v)`; the image is `u = β_v v̄ + β_k k̄` with `v̄`, `k̄` the mean region and keyword vectors
/// and `[β_v, β_k] = softmax(G q + g)` a gate of the query alone; score = `cos(q, u)`; the loss is AMC's ranking
/// hinge. An image without keywords (or regions) uses the other modality alone (`β` = 1 and 0).
///
/// The online part is the gate (`G`, `g`): fine-tuning it re-weights the modalities per query and leaves every
/// image encoding valid. See `Docs/model.md`.
public struct LateFusionModel: ScoringModel {
    /// `"late_fusion"`.
    public static let architecture = "late_fusion"
    /// 1: the equations above.
    public static let architectureVersion = 1
    /// The gate: `G`, `g`.
    public static let onlineTensorNames = [Tensor.gateWeight.rawValue, Tensor.gateBias.rawValue]
    /// True: the gate reads only the query.
    public static let onlinePartKeepsImageEncodings = true

    /// The parameter tensors, in their fixed order.
    public enum Tensor: String, CaseIterable, Sendable, Hashable {
        /// `E_q` (H × d): query trigram embedding table, one row per bucket.
        case queryEmbedding = "E_q"
        /// `b_q` (d): query bias.
        case queryBias = "b_q"
        /// `E_k` (H × d): keyword trigram embedding table, one row per bucket.
        case keywordEmbedding = "E_k"
        /// `b_k` (d): keyword bias.
        case keywordBias = "b_k"
        /// `W_v` (d × D): region projection.
        case regionWeight = "W_v"
        /// `b_v` (d): region bias.
        case regionBias = "b_v"
        /// `G` (2 × d): the gate, row 0 visual, row 1 keyword.
        case gateWeight = "G"
        /// `g` (2): the gate's bias.
        case gateBias = "g"

        /// The (rows, columns) shape.
        /// - Parameters:
        ///   - buckets: `H`.
        ///   - d: The embedding dimension.
        ///   - regionDimension: `D`.
        /// - Returns: Row-major shape.
        public func shape(buckets: Int, d: Int, regionDimension: Int) -> (rows: Int, columns: Int) {
            switch self {
            case .queryEmbedding, .keywordEmbedding: (buckets, d)
            case .queryBias, .keywordBias, .regionBias: (d, 1)
            case .regionWeight: (d, regionDimension)
            case .gateWeight: (2, d)
            case .gateBias: (2, 1)
            }
        }

        /// Position in ``ModelParameters/tensors``.
        var index: Int { Self.allCases.firstIndex(of: self)! }
    }

    /// The hyper-parameter names.
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

    /// Fresh parameters: Glorot-uniform `E_q`, `E_k`, `W_v` from a seeded SplitMix64 (in ``Tensor`` order, each
    /// row-major, limit `sqrt(6 / (rows + columns))`), zero biases and a zero gate (an even mix until trained).
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

    /// Builds the model from late-fusion parameters.
    /// - Parameter parameters: Parameters of this architecture.
    /// - Throws: ``ModelError`` (`shape_mismatch`) if the architecture, a hyper-parameter, a tensor's name or shape
    ///   does not match.
    public init(parameters: ModelParameters) throws {
        guard parameters.architecture == Self.architecture else {
            throw ModelError(.shapeMismatch, "parameters of architecture \(parameters.architecture), not late_fusion")
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
    }

    /// One tensor's values.
    /// - Parameter tensor: The tensor.
    public subscript(tensor: Tensor) -> [Float] { parameters.tensors[tensor.index].values }

    // MARK: - Encoders

    /// Hashes and encodes a normalised query string: `q` and the gate `[β_v, β_k]`.
    public func encodeQuery(_ text: String) -> EncodedQuery {
        encodeQuery(LetterTrigramHasher.encode(text, buckets: hashBuckets))
    }

    /// Encodes a query trigram bag: `q = tanh(E_qᵀ x_q + b_q)` and `[β_v, β_k] = softmax(G q + g)`.
    /// - Parameter input: The trigram bag.
    /// - Returns: The encoded query.
    public func encodeQuery(_ input: SparseVector) -> EncodedQuery {
        let q = embed(input, table: self[.queryEmbedding], bias: self[.queryBias])
        let beta = gate(q)
        return EncodedQuery(input: input, vector: q, terms: [beta.visual, beta.keyword], norm: Self.norm(q))
    }

    /// The image encodings `[v̄ | k̄]` (2d floats; a missing modality's mean is zero and never read).
    public func encodeImages(_ images: [ImageFeatures]) -> [EncodedImage] {
        let d = embeddingDimension
        // One allocation for the batch, as AMC's encodings (the serving catalog is encoded in batches).
        let storage = EncodedImageStorage(count: 2 * d * images.count)
        return images.enumerated().map { index, image in
            let encoded = encode(image)
            let base = storage.base + 2 * d * index
            encoded.visual.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: d) }
            encoded.keyword.withUnsafeBufferPointer { (base + d).update(from: $0.baseAddress!, count: d) }
            return EncodedImage(
                regionCount: image.regionCount,
                keywordCount: image.keywords.count,
                storage: storage,
                offset: 2 * d * index,
                count: 2 * d
            )
        }
    }

    // MARK: - Scoring

    /// Scores encoded images: `cos(q, β_v v̄ + β_k k̄)`, with the mix that produced it.
    ///
    /// The same arithmetic as training's forward pass (the mix is ``mix(visual:keyword:count:hasRegions:hasKeywords:
    /// beta:into:)``, the sums ``Kernels/dot(_:_:_:)`` as in ``norm(_:)`` and ``cosine(_:_:_:_:)``), read straight
    /// from the encodings without a per-image allocation.
    public func score(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoredImage] {
        let d = embeddingDimension
        precondition(query.vector.count == d && query.terms.count == 2, "query encoded by another architecture")
        let beta = (visual: query.terms[0], keyword: query.terms[1])
        var scored: [ScoredImage] = []
        scored.reserveCapacity(encodedImages.count)
        query.vector.withUnsafeBufferPointer { q in
            for (index, image) in encodedImages.enumerated() {
                precondition(image.count == 2 * d, "image encoded by another architecture or dimensions")
                let (dot, squares, betaV, betaK) = image.withValues { values in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: d) { buffer in
                        let u = buffer.baseAddress!
                        let (betaV, betaK) = Self.mix(
                            visual: values,
                            keyword: values + d,
                            count: d,
                            hasRegions: image.regionCount > 0,
                            hasKeywords: image.keywordCount > 0,
                            beta: beta,
                            into: u
                        )
                        return (Kernels.dot(q.baseAddress!, u, d), Kernels.dot(u, u, d), betaV, betaK)
                    }
                }
                let score = dot / (query.norm * (squares + AMCModel.normEpsilon).squareRoot())
                scored.append(ScoredImage(index: index, score: score, visualWeight: betaV, languageWeight: betaK))
            }
        }
        return scored
    }

    /// Explains each score by the gate's mix alone: `visual` = `β_v`, `language` = `β_k` (the names AMC uses); late
    /// fusion attends over nothing, so there is no region or keyword attention.
    public func explain(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoreExplanation] {
        score(query: query, encodedImages: encodedImages).map { scored in
            ScoreExplanation(
                architecture: Self.architecture,
                score: scored.score,
                mixingWeights: [
                    ScoreExplanation.MixingWeight(name: AMCModel.visualWeightName, weight: scored.visualWeight),
                    ScoreExplanation.MixingWeight(name: AMCModel.languageWeightName, weight: scored.languageWeight),
                ],
                regionAttention: nil,
                keywordAttention: []
            )
        }
    }

    /// True when `other` is a late-fusion model with the same dimensions and identical encoders (`E_k`, `b_k`,
    /// `W_v`, `b_v`): images it encoded score the same under `other`.
    public func sharesImageEncodings(with other: any ScoringModel) -> Bool {
        guard let other = other as? LateFusionModel else { return false }
        return hashBuckets == other.hashBuckets && embeddingDimension == other.embeddingDimension
            && regionDimension == other.regionDimension
            && [Tensor.keywordEmbedding, .keywordBias, .regionWeight, .regionBias].allSatisfy {
                self[$0] == other[$0]
            }
    }

    // MARK: - Forward pieces (shared with training)

    /// `tanh(Σ_b count_b · table[b, :] + bias)` over the bag's buckets, in index order.
    func embed(_ bag: SparseVector, table: [Float], bias: [Float]) -> [Float] {
        let (d, buckets) = (embeddingDimension, hashBuckets)
        var out = bias
        out.withUnsafeMutableBufferPointer { out in
            table.withUnsafeBufferPointer { table in
                for (index, count) in zip(bag.indices, bag.counts) {
                    let row = Int(index)
                    precondition(row >= 0 && row < buckets, "sparse input index outside 0..<hashBuckets")
                    let weights = table.baseAddress! + row * d
                    for j in 0..<d { out[j] += count * weights[j] }
                }
            }
            for j in 0..<d { out[j] = out[j].tanhValue }
        }
        return out
    }

    /// `[β_v, β_k] = softmax(G q + g)`.
    func gate(_ q: [Float]) -> (visual: Float, keyword: Float) {
        let d = embeddingDimension
        let (weights, bias) = (self[.gateWeight], self[.gateBias])
        var z = bias
        for m in 0..<2 {
            for j in 0..<d { z[m] += weights[m * d + j] * q[j] }
        }
        let top = max(z[0], z[1])
        let ev = (z[0] - top).expValue
        let ek = (z[1] - top).expValue
        let visual = ev / (ev + ek)
        return (visual, 1 - visual)
    }

    /// One image's encodings: each region's `v_i` (R × d) and keyword's `k_l` (K × d), and their means.
    func encode(_ image: ImageFeatures) -> (regions: [Float], keywords: [Float], visual: [Float], keyword: [Float]) {
        let (d, dim, r) = (embeddingDimension, regionDimension, image.regionCount)
        precondition(image.regions.count == r * dim, "regions must be regionCount × regionDimension")
        let (weight, bias) = (self[.regionWeight], self[.regionBias])
        var regions = [Float](repeating: 0, count: r * d)
        var visual = [Float](repeating: 0, count: d)
        weight.withUnsafeBufferPointer { weight in
            image.regions.withUnsafeBufferPointer { features in
                regions.withUnsafeMutableBufferPointer { regions in
                    for i in 0..<r {
                        let x = features.baseAddress! + i * dim
                        for j in 0..<d {
                            let w = weight.baseAddress! + j * dim
                            var sum = bias[j]
                            for c in 0..<dim { sum += w[c] * x[c] }
                            regions[i * d + j] = sum.tanhValue
                            visual[j] += regions[i * d + j]
                        }
                    }
                }
            }
        }
        if r > 0 { for j in 0..<d { visual[j] /= Float(r) } }
        var keywords: [Float] = []
        keywords.reserveCapacity(image.keywords.count * d)
        var keyword = [Float](repeating: 0, count: d)
        let (table, keywordBias) = (self[.keywordEmbedding], self[.keywordBias])
        for bag in image.keywords {
            let k = embed(bag, table: table, bias: keywordBias)
            keywords.append(contentsOf: k)
            for j in 0..<d { keyword[j] += k[j] }
        }
        if !image.keywords.isEmpty { for j in 0..<d { keyword[j] /= Float(image.keywords.count) } }
        return (regions, keywords, visual, keyword)
    }

    /// `u` and its norm, with the effective mix: the gate's when both modalities are present, else all on the one
    /// present (`β_v = 1` when neither is).
    func fuse(
        visual: ArraySlice<Float>,
        keyword: ArraySlice<Float>,
        hasRegions: Bool,
        hasKeywords: Bool,
        beta: (visual: Float, keyword: Float)
    ) -> (u: [Float], norm: Float, betaV: Float, betaK: Float) {
        let d = embeddingDimension
        precondition(visual.count == d && keyword.count == d, "embeddings of another dimension")
        var u = [Float](repeating: 0, count: d)
        let (betaV, betaK) = visual.withUnsafeBufferPointer { v in
            keyword.withUnsafeBufferPointer { k in
                u.withUnsafeMutableBufferPointer { out in
                    Self.mix(
                        visual: v.baseAddress!,
                        keyword: k.baseAddress!,
                        count: d,
                        hasRegions: hasRegions,
                        hasKeywords: hasKeywords,
                        beta: beta,
                        into: out.baseAddress!
                    )
                }
            }
        }
        return (u, Self.norm(u), betaV, betaK)
    }

    /// Writes `u = β_v v̄ + β_k k̄` (`count` values) and returns the effective mix: the gate's when both modalities
    /// are present, else all on the one present (`β_v = 1` and `u = 0` when neither is). Serving's ``score(query:
    /// encodedImages:)`` and training's ``fuse(visual:keyword:hasRegions:hasKeywords:beta:)`` both mix here, so
    /// they agree bit for bit.
    static func mix(
        visual: UnsafePointer<Float>,
        keyword: UnsafePointer<Float>,
        count d: Int,
        hasRegions: Bool,
        hasKeywords: Bool,
        beta: (visual: Float, keyword: Float),
        into u: UnsafeMutablePointer<Float>
    ) -> (betaV: Float, betaK: Float) {
        if hasRegions && hasKeywords {
            for j in 0..<d { u[j] = beta.visual * visual[j] + beta.keyword * keyword[j] }
            return (beta.visual, beta.keyword)
        }
        if hasKeywords {
            u.update(from: keyword, count: d)
            return (0, 1)
        }
        if hasRegions {
            u.update(from: visual, count: d)
        } else {
            u.update(repeating: 0, count: d)
        }
        return (1, 0)
    }

    /// `sqrt(x·x + ε)`, the dot product in ``Kernels/dot(_:_:_:)``'s order.
    static func norm(_ x: [Float]) -> Float {
        let sum = x.withUnsafeBufferPointer { x in x.baseAddress.map { Kernels.dot($0, $0, x.count) } ?? 0 }
        return (sum + AMCModel.normEpsilon).squareRoot()
    }

    /// `q·u / (|q| |u|)` with the norms given, the dot product in ``Kernels/dot(_:_:_:)``'s order.
    static func cosine(_ q: [Float], _ qNorm: Float, _ u: [Float], _ uNorm: Float) -> Float {
        precondition(q.count == u.count, "q and u must have the same dimension")
        let dot = q.withUnsafeBufferPointer { qp in
            u.withUnsafeBufferPointer { up -> Float in
                guard let q = qp.baseAddress, let u = up.baseAddress else { return 0 }
                return Kernels.dot(q, u, qp.count)
            }
        }
        return dot / (qNorm * uNorm)
    }
}
