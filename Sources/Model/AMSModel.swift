/// AMS, attention-based multiscale matching (after WMSlalalala/AMS, built on NAAF): the query's words matched against
/// the image at four scales, each scored negative-aware, the scales mixed by learned weights.
///
/// Each query word `w_j` is encoded `e_j = norm(tanh(E_qᵀ x_j + b_q))`. The image gives four sets of fragments, each
/// through its own projection: the R region cells `norm(W_r r_i + b_r)` (`regions`), a 2×2 grid of pooled cells
/// `norm(W_g r̄_q + b_g)` (`grid2x2`; only for a square grid of at least 2×2 cells), the mean region
/// `norm(W_m r̄ + b_m)` (`global`) and the keywords `norm(tanh(E_kᵀ x_l + b_k))` (`keywords`). Each scale `s` scores
/// `S_s` with ``NegativeAwareMatching`` (threshold `t_s`, temperature λ); the score is `S = Σ_s b̃_s S_s` with
/// `b̃ = softmax` of the query's scale logits `z = Z ē + c` (`ē` the mean word) over the scales the image has (an
/// image without keywords is scored by its visual scales alone). An empty query scores 0. The loss is AMC's ranking
/// hinge; a bootstrap adds each scale's own hinge at the auxiliary weight (``scaleLosses(for:)``).
///
/// The online part is the scale gate (`Z`, `c`) and the thresholds: they act after the fragments, so fine-tuning them
/// leaves every image encoding valid. See `Docs/model.md`.
public struct AMSModel: ScoringModel {
    /// `"ams"`.
    public static let architecture = "ams"
    /// 1: the equations above.
    public static let architectureVersion = 1
    /// The scale gate and the thresholds.
    public static let onlineTensorNames = [
        Tensor.scaleGate.rawValue, Tensor.scaleLogits.rawValue, Tensor.thresholds.rawValue,
    ]
    /// True: the online part acts after the query-independent fragments.
    public static let onlinePartKeepsImageEncodings = true

    /// The scales, in the order of their logits, thresholds and mixing weights.
    public enum Scale: Int, CaseIterable, Sendable, Hashable {
        /// The R region cells.
        case regions
        /// The 2×2 grid of pooled cells.
        case grid2x2
        /// The mean region.
        case global
        /// The keywords.
        case keywords

        /// The scale's name in explanations (`regions`, `grid2x2`, `global`, `keywords`).
        public var name: String {
            switch self {
            case .regions: "regions"
            case .grid2x2: "grid2x2"
            case .global: "global"
            case .keywords: "keywords"
            }
        }

        /// The number of fragments of this scale for an image with `regionCount` cells and `keywordCount` keywords:
        /// R, 4 (when R = n², n ≥ 2, else 0), 1 (when R > 0) and K.
        public func fragmentCount(regionCount: Int, keywordCount: Int) -> Int {
            switch self {
            case .regions: regionCount
            case .grid2x2: AMSModel.gridSide(regionCount: regionCount) >= 2 ? 4 : 0
            case .global: regionCount > 0 ? 1 : 0
            case .keywords: keywordCount
            }
        }
    }

    /// The parameter tensors, in their fixed order.
    public enum Tensor: String, CaseIterable, Sendable, Hashable {
        /// `E_q` (H × d): query-word trigram embedding table, one row per bucket.
        case queryEmbedding = "E_q"
        /// `b_q` (d).
        case queryBias = "b_q"
        /// `E_k` (H × d): keyword trigram embedding table, one row per bucket.
        case keywordEmbedding = "E_k"
        /// `b_k` (d).
        case keywordBias = "b_k"
        /// `W_r` (d × D): projection of the region cells.
        case regionWeight = "W_r"
        /// `b_r` (d).
        case regionBias = "b_r"
        /// `W_g` (d × D): projection of the 2×2 pooled cells.
        case gridWeight = "W_g"
        /// `b_g` (d).
        case gridBias = "b_g"
        /// `W_m` (d × D): projection of the mean region.
        case globalWeight = "W_m"
        /// `b_m` (d).
        case globalBias = "b_m"
        /// `Z` (4 × d): the scale gate's weights, one row per ``Scale``.
        case scaleGate = "scale_gate"
        /// `c` (4): the scale logits' bias, `z = Z ē + c`, `b = softmax(z)` in ``Scale`` order.
        case scaleLogits = "scale_logits"
        /// `t` (4): the per-scale thresholds, in ``Scale`` order.
        case thresholds = "t"

        /// The (rows, columns) shape.
        /// - Parameters:
        ///   - buckets: `H`.
        ///   - d: The embedding dimension.
        ///   - regionDimension: `D`.
        /// - Returns: Row-major shape.
        public func shape(buckets: Int, d: Int, regionDimension: Int) -> (rows: Int, columns: Int) {
            switch self {
            case .queryEmbedding, .keywordEmbedding: (buckets, d)
            case .queryBias, .keywordBias, .regionBias, .gridBias, .globalBias: (d, 1)
            case .regionWeight, .gridWeight, .globalWeight: (d, regionDimension)
            case .scaleGate: (Scale.allCases.count, d)
            case .scaleLogits, .thresholds: (Scale.allCases.count, 1)
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
        /// λ, the temperature of the per-scale softmaxes over fragments (NAAF's `lambda_softmax`). Default: 20.
        public static let lambda = "lambda_softmax"
    }

    /// The default λ (NAAF's and AMS's setting).
    public static let defaultLambda: Float = 20

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
    /// λ.
    public let lambda: Float

    /// Fresh parameters: Glorot-uniform `E_q`, `E_k`, `W_r`, `W_g`, `W_m` from a seeded SplitMix64 (in ``Tensor``
    /// order, each row-major, limit `sqrt(6 / (rows + columns))`), zero biases, a zero scale gate (equal scale
    /// weights for every query until trained) and zero thresholds. Hyper-parameters: `H`, `d`, `D`, `margin` (defaults those of
    /// ``ModelConfiguration``) and `lambda_softmax` (default 20).
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
        let lambda = try Self.lambda(in: hyperParameters, default: defaultLambda)
        var rng = SplitMix64(seed: seed)
        let tensors = Tensor.allCases.map { tensor in
            let shape = tensor.shape(buckets: buckets, d: d, regionDimension: regionDimension)
            var values = [Float](repeating: 0, count: shape.rows * shape.columns)
            switch tensor {
            case .queryEmbedding, .keywordEmbedding, .regionWeight, .gridWeight, .globalWeight:
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
                P.regionDimension: Double(regionDimension), P.margin: Double(margin), P.lambda: Double(lambda),
            ],
            tensors: tensors
        )
    }

    /// Builds the model from AMS parameters.
    /// - Parameter parameters: Parameters of this architecture.
    /// - Throws: ``ModelError`` (`shape_mismatch`) if the architecture, a hyper-parameter, a tensor's name or shape
    ///   does not match.
    public init(parameters: ModelParameters) throws {
        guard parameters.architecture == Self.architecture else {
            throw ModelError(.shapeMismatch, "parameters of architecture \(parameters.architecture), not ams")
        }
        typealias P = HyperParameter
        let values = parameters.hyperParameters
        for name in [P.hashBuckets, P.embeddingDimension, P.regionDimension, P.margin, P.lambda]
        where values[name] == nil {
            throw ModelError(.shapeMismatch, "hyper-parameter \(name) is missing")
        }
        hashBuckets = try HyperParameters.dimension(P.hashBuckets, in: values, default: 0)
        embeddingDimension = try HyperParameters.dimension(P.embeddingDimension, in: values, default: 0)
        regionDimension = try HyperParameters.dimension(P.regionDimension, in: values, default: 0)
        margin = try HyperParameters.margin(in: values, default: 0)
        lambda = try Self.lambda(in: values, default: 0)
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

    /// λ from the hyper-parameters: finite and positive.
    private static func lambda(in values: [String: Double], default defaultValue: Float) throws -> Float {
        guard let value = values[HyperParameter.lambda] else { return defaultValue }
        guard value.isFinite, value > 0, value <= 1000 else {
            throw ModelError(.shapeMismatch, "hyper-parameter \(HyperParameter.lambda) is out of range")
        }
        return Float(value)
    }

    /// One tensor's values.
    /// - Parameter tensor: The tensor.
    public subscript(tensor: Tensor) -> [Float] { parameters.tensors[tensor.index].values }

    /// The side n of an n × n grid of `regionCount` cells, or 0 when R is not a perfect square.
    static func gridSide(regionCount: Int) -> Int {
        let shape = ScoreExplanation.GridAttention.shape(cellCount: regionCount)
        return shape.rows == shape.columns ? shape.rows : 0
    }

    /// The NAAF matching kernel with this model's λ.
    var matching: NegativeAwareMatching { NegativeAwareMatching(lambda: lambda) }
}

// MARK: - Encoders

extension AMSModel {
    /// A query's encoded words: `e_j` (Q × d), their norms `|e_j|` (Q), and for training the pre-normalisation
    /// tanh outputs `h_j` (Q × d) and their norms `sqrt(h_j·h_j + ε)` (Q).
    struct EncodedWords {
        var words: [Float]
        var norms: [Float]
        var hidden: [Float]
        var hiddenNorms: [Float]
        var count: Int { norms.count }
    }

    /// One image's fragments per scale (each `n_s × d`, normalised) with what the backward pass needs: the
    /// pre-normalisation norms per fragment, the keywords' tanh outputs, and the pooled inputs of `grid2x2` and
    /// `global` (`n_s × D`).
    struct ImageEncoding {
        var fragments: [[Float]]
        var norms: [[Float]]
        var keywordHidden: [Float]
        var gridInputs: [Float]
        var globalInput: [Float]

        /// The fragment count of a scale.
        func count(_ scale: Scale, d: Int) -> Int { fragments[scale.rawValue].count / d }
    }

    /// Hashes and encodes a normalised query: one `e_j` per whitespace-separated word (``QueryInput``). The
    /// encoded query's `vector` is `e_1 … e_Q` (Q × d), its terms the scale logits `z` (4) then the norms `|e_j|`.
    public func encodeQuery(_ text: String) -> EncodedQuery {
        let input = QueryInput(text, buckets: hashBuckets)
        let words = encodeWords(input.wordBags)
        let z = scaleLogits(words)
        return EncodedQuery(
            input: input.bag,
            vector: words.words,
            terms: [z[0], z[1], z[2], z[3]] + words.norms,
            norm: 1
        )
    }

    /// `ē`, the mean of the query's words (zero without words), summed in word order.
    func meanWord(_ words: EncodedWords) -> [Float] {
        let d = embeddingDimension
        var mean = [Float](repeating: 0, count: d)
        for j in 0..<words.count { for c in 0..<d { mean[c] += words.words[j * d + c] } }
        if words.count > 0 { for c in 0..<d { mean[c] /= Float(words.count) } }
        return mean
    }

    /// The query's scale logits `z = Z ē + c`.
    func scaleLogits(_ words: EncodedWords) -> SIMD4<Float> {
        let d = embeddingDimension
        let mean = meanWord(words)
        let (gate, bias) = (self[.scaleGate], self[.scaleLogits])
        var z = SIMD4<Float>()
        gate.withUnsafeBufferPointer { gate in
            mean.withUnsafeBufferPointer { mean in
                for s in 0..<4 { z[s] = bias[s] + Kernels.dot(gate.baseAddress! + s * d, mean.baseAddress!, d) }
            }
        }
        return z
    }

    /// The query words' encodings.
    func encodeWords(_ bags: [SparseVector]) -> EncodedWords {
        let d = embeddingDimension
        var result = EncodedWords(words: [], norms: [], hidden: [], hiddenNorms: [])
        let (table, bias) = (self[.queryEmbedding], self[.queryBias])
        for bag in bags {
            let h = embed(bag, table: table, bias: bias)
            let (e, r) = normalised(h)
            result.hidden += h
            result.hiddenNorms.append(r)
            result.words += e
            result.norms.append(Self.norm(e, 0, d))
        }
        return result
    }

    /// The image encodings: per image one block `regions (R × d) | grid2x2 (4 × d or none) | global (1 × d, none
    /// when R = 0) | keywords (K × d)`, each fragment normalised.
    public func encodeImages(_ images: [ImageFeatures]) -> [EncodedImage] {
        let d = embeddingDimension
        let counts = images.map { image in
            Scale.allCases.reduce(0) {
                $0 + $1.fragmentCount(regionCount: image.regionCount, keywordCount: image.keywords.count)
            } * d
        }
        let storage = EncodedImageStorage(count: counts.reduce(0, +))
        var offset = 0
        return images.enumerated().map { index, image in
            let encoding = encode(image)
            var position = storage.base + offset
            for fragments in encoding.fragments {
                fragments.withUnsafeBufferPointer { position.update(from: $0.baseAddress!, count: $0.count) }
                position += fragments.count
            }
            defer { offset += counts[index] }
            return EncodedImage(
                regionCount: image.regionCount,
                keywordCount: image.keywords.count,
                storage: storage,
                offset: offset,
                count: counts[index]
            )
        }
    }

    /// One image's fragments per scale (see ``ImageEncoding``).
    func encode(_ image: ImageFeatures) -> ImageEncoding {
        let (dim, r) = (regionDimension, image.regionCount)
        precondition(image.regions.count == r * dim, "regions must be regionCount × regionDimension")
        var encoding = ImageEncoding(
            fragments: Array(repeating: [], count: Scale.allCases.count),
            norms: Array(repeating: [], count: Scale.allCases.count),
            keywordHidden: [],
            gridInputs: [],
            globalInput: []
        )
        func encodeVisual(_ scale: Scale, _ inputs: [Float], _ weight: Tensor, _ bias: Tensor) {
            let (w, b) = (self[weight], self[bias])
            for i in 0..<(inputs.count / dim) {
                let x = self.project(Array(inputs[(i * dim)..<((i + 1) * dim)]), weight: w, bias: b)
                let (f, norm) = normalised(x)
                encoding.fragments[scale.rawValue] += f
                encoding.norms[scale.rawValue].append(norm)
            }
        }
        encodeVisual(.regions, image.regions, .regionWeight, .regionBias)
        encoding.gridInputs = Self.pooledGrid(image.regions, regionCount: r, dimension: dim)
        encodeVisual(.grid2x2, encoding.gridInputs, .gridWeight, .gridBias)
        if r > 0 {
            var mean = [Float](repeating: 0, count: dim)
            for i in 0..<r { for c in 0..<dim { mean[c] += image.regions[i * dim + c] } }
            for c in 0..<dim { mean[c] /= Float(r) }
            encoding.globalInput = mean
        }
        encodeVisual(.global, encoding.globalInput, .globalWeight, .globalBias)
        let (table, bias) = (self[.keywordEmbedding], self[.keywordBias])
        for bag in image.keywords {
            let h = embed(bag, table: table, bias: bias)
            let (f, norm) = normalised(h)
            encoding.keywordHidden += h
            encoding.fragments[Scale.keywords.rawValue] += f
            encoding.norms[Scale.keywords.rawValue].append(norm)
        }
        return encoding
    }

    /// The 2×2 pooled grid of an n × n grid of cells (n ≥ 2; else none): the rows split into `0..<⌈n/2⌉` and
    /// `⌈n/2⌉..<n`, the columns likewise, and each of the four blocks (row-major: top left, top right, bottom left,
    /// bottom right) the mean of its cells' features.
    static func pooledGrid(_ regions: [Float], regionCount: Int, dimension dim: Int) -> [Float] {
        let n = gridSide(regionCount: regionCount)
        guard n >= 2 else { return [] }
        let half = (n + 1) / 2
        var pooled = [Float](repeating: 0, count: 4 * dim)
        for block in 0..<4 {
            let rows = block / 2 == 0 ? 0..<half : half..<n
            let columns = block % 2 == 0 ? 0..<half : half..<n
            for row in rows {
                for column in columns {
                    let cell = (row * n + column) * dim
                    for c in 0..<dim { pooled[block * dim + c] += regions[cell + c] }
                }
            }
            let count = Float(rows.count * columns.count)
            for c in 0..<dim { pooled[block * dim + c] /= count }
        }
        return pooled
    }

    /// `W x + b` (W: d × D row-major).
    func project(_ x: [Float], weight: [Float], bias: [Float]) -> [Float] {
        let (d, dim) = (embeddingDimension, regionDimension)
        var out = bias
        weight.withUnsafeBufferPointer { w in
            x.withUnsafeBufferPointer { x in
                for j in 0..<d { out[j] += Kernels.dot(w.baseAddress! + j * dim, x.baseAddress!, dim) }
            }
        }
        return out
    }

    /// `tanh(Σ_b count_b · table[b, :] + bias)` over the bag's buckets, in entry order.
    func embed(_ bag: SparseVector, table: [Float], bias: [Float]) -> [Float] {
        let (d, buckets) = (embeddingDimension, hashBuckets)
        for index in bag.indices {
            precondition(index >= 0 && Int(index) < buckets, "sparse input index outside 0..<hashBuckets")
        }
        var out = [Float](repeating: 0, count: d)
        out.withUnsafeMutableBufferPointer { out in
            table.withUnsafeBufferPointer { table in
                bias.withUnsafeBufferPointer { bias in
                    bag.indices.withUnsafeBufferPointer { indices in
                        bag.counts.withUnsafeBufferPointer { counts in
                            Kernels.gather(
                                out.baseAddress!,
                                start: bias.baseAddress!,
                                indices.baseAddress!,
                                counts.baseAddress!,
                                bag.indices.count,
                                table.baseAddress!,
                                d
                            )
                        }
                    }
                }
            }
            Kernels.tanhInPlace(out.baseAddress!, d)
        }
        return out
    }

    /// `x / sqrt(x·x + ε)` and the norm it divided by.
    func normalised(_ x: [Float]) -> (vector: [Float], norm: Float) {
        let norm = Self.norm(x, 0, x.count)
        return (x.map { $0 / norm }, norm)
    }

    /// `sqrt(x[start..<start+n] · x[start..<start+n] + ε)`.
    static func norm(_ x: [Float], _ start: Int, _ n: Int) -> Float {
        x.withUnsafeBufferPointer { x in
            (Kernels.dot(x.baseAddress! + start, x.baseAddress! + start, n) + AMCModel.normEpsilon).squareRoot()
        }
    }
}
