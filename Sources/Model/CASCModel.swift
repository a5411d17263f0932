/// CASC, cross-modal attention with semantic consistence (Xu et al., TNNLS 2020), adapted to our inputs: two SCAN
/// branches (``CrossAttention``) over the query's words, one over the region grid and one over the keywords, mixed
/// by an MTN-shaped modality gate, plus a query-independent label head whose predicted query-token labels must agree
/// with the query's.
///
/// ```
/// e_j = norm(tanh(E_qᵀ x_j + b_q))      each query word       v_i = norm(W_v r_i + b_v)       each region
/// k_l = norm(tanh(E_kᵀ x_l + b_k))      each keyword
/// S^V = ½(S_t2i + S_i2t)(v, e; λ^V)     S^K = ½(S_t2i + S_i2t)(k, e; λ^K)
/// [β_v, β_k] = softmax(m_v·tanh(M_v[ē; mean_j a^V_j] + c_v), m_k·tanh(M_k[ē; mean_j a^K_j] + c_k))
/// p = W_2 tanh(W_1 mean_i v_i + b_1) + b_2      (L label logits),  σ̂ = σ(p) / |σ(p)|
/// S = α(β_v S^V + β_k S^K) + (1 − α) Σ_{l ∈ y_q} σ̂_l / sqrt(|y_q|)       (= cos(σ(p), y_q))
/// ```
///
/// A label is a query token hashed into one of `L` buckets (FNV-1a of its trigram bag, ``label(of:)``); `y_q` is the set of the
/// query's token labels, and a training example's positive image learns `y_q` as its BCE target. The temperatures
/// are stored as logarithms (`λ = exp(log_lambda)`) and `α = sigmoid(alpha_logit)`, so both stay in range under
/// any update. The online part is the gate, the temperatures and `α`; image encodings never depend on it. See
/// `Docs/model.md`.
public struct CASCModel: ScoringModel {
    /// `"casc"`.
    public static let architecture = "casc"
    /// 1: the equations above.
    public static let architectureVersion = 1
    /// The gate (`M_v`, `c_v`, `m_v`, `M_k`, `c_k`, `m_k`), the temperatures (`log_lambda`) and the mix
    /// (`alpha_logit`).
    public static let onlineTensorNames = Tensor.allCases.filter(\.isOnline).map(\.rawValue)
    /// True: the cached block (fragments and label probabilities) reads no online tensor.
    public static let onlinePartKeepsImageEncodings = true
    /// The two branches: regions (0) and keywords (1).
    static let branchCount = 2

    /// The parameter tensors, in their fixed order.
    public enum Tensor: String, CaseIterable, Sendable, Hashable {
        /// `E_q` (H × d): query word trigram embedding table, one row per bucket.
        case queryEmbedding = "E_q"
        /// `b_q` (d).
        case queryBias = "b_q"
        /// `E_k` (H × d): keyword trigram embedding table.
        case keywordEmbedding = "E_k"
        /// `b_k` (d).
        case keywordBias = "b_k"
        /// `W_v` (d × D): region projection.
        case regionWeight = "W_v"
        /// `b_v` (d).
        case regionBias = "b_v"
        /// `W_1` (d × d): the label head's hidden layer.
        case labelHiddenWeight = "W_1"
        /// `b_1` (d).
        case labelHiddenBias = "b_1"
        /// `W_2` (L × d): the label logits.
        case labelWeight = "W_2"
        /// `b_2` (L).
        case labelBias = "b_2"
        /// `M_v` (h × 2d): the gate's visual branch, `[ē; mean_j a^V_j]`.
        case visualGateWeight = "M_v"
        /// `c_v` (h).
        case visualGateBias = "c_v"
        /// `m_v` (h).
        case visualGateScore = "m_v"
        /// `M_k` (h × 2d): the gate's keyword branch.
        case keywordGateWeight = "M_k"
        /// `c_k` (h).
        case keywordGateBias = "c_k"
        /// `m_k` (h).
        case keywordGateScore = "m_k"
        /// `log_lambda` (2 × 3): `log λ1, log λ1', log λ2` of the region branch (row 0) and the keyword branch (row 1).
        case logTemperatures = "log_lambda"
        /// `alpha_logit` (1 × 1): `α = sigmoid(alpha_logit)`.
        case alphaLogit = "alpha_logit"

        /// The (rows, columns) shape.
        func shape(_ s: Sizes) -> (rows: Int, columns: Int) {
            switch self {
            case .queryEmbedding, .keywordEmbedding: (s.buckets, s.d)
            case .queryBias, .keywordBias, .regionBias, .labelHiddenBias: (s.d, 1)
            case .regionWeight: (s.d, s.regionDimension)
            case .labelHiddenWeight: (s.d, s.d)
            case .labelWeight: (s.labels, s.d)
            case .labelBias: (s.labels, 1)
            case .visualGateWeight, .keywordGateWeight: (s.gate, 2 * s.d)
            case .visualGateBias, .visualGateScore, .keywordGateBias, .keywordGateScore: (s.gate, 1)
            case .logTemperatures: (CASCModel.branchCount, 3)
            case .alphaLogit: (1, 1)
            }
        }

        /// Whether online fine-tuning may change it.
        var isOnline: Bool {
            switch self {
            case .visualGateWeight, .visualGateBias, .visualGateScore, .keywordGateWeight, .keywordGateBias,
                .keywordGateScore, .logTemperatures, .alphaLogit:
                true
            default: false
            }
        }

        /// Position in ``ModelParameters/tensors``.
        var index: Int { Self.allCases.firstIndex(of: self)! }
    }

    /// The dimensions a parameter set is built with.
    struct Sizes: Hashable {
        var buckets: Int
        var d: Int
        var regionDimension: Int
        var gate: Int
        var labels: Int
    }

    /// The hyper-parameter names: the shared ones and CASC's own.
    public enum HyperParameter {
        /// `H`, the trigram hash buckets.
        public static let hashBuckets = AMCWeights.HyperParameter.hashBuckets
        /// `d`, the embedding dimension (also the label head's hidden size).
        public static let embeddingDimension = AMCWeights.HyperParameter.embeddingDimension
        /// `D`, the region feature dimension.
        public static let regionDimension = AMCWeights.HyperParameter.regionDimension
        /// `h`, the gate's hidden size (AMC's MTN size).
        public static let gateDimension = AMCWeights.HyperParameter.modalityDimension
        /// The ranking hinge margin.
        public static let margin = AMCWeights.HyperParameter.margin
        /// `L`, the label buckets (query tokens hashed by FNV-1a). Default 1024.
        public static let labelBuckets = "L"
        /// `w`, the weight of the label BCE in the loss. Default 1.
        public static let labelLossWeight = "label_weight"
    }

    /// The default `L`.
    public static let defaultLabelBuckets = 1024
    /// The default `w`.
    public static let defaultLabelLossWeight: Float = 1
    /// The initial temperatures `λ1, λ1', λ2` (SCAN's 9, 4, 5) and mix `α` (0.8, the original test-time mix).
    static let initialTemperatures: [Float] = [9, 4, 5]
    static let initialAlpha: Float = 0.8

    /// The parameters (the tensors in ``Tensor`` order).
    public let parameters: ModelParameters
    /// `H`.
    public let hashBuckets: Int
    /// `d`.
    public let embeddingDimension: Int
    /// `D`.
    public let regionDimension: Int
    /// `h`.
    public let gateDimension: Int
    /// `L`.
    public let labelBuckets: Int
    /// The hinge margin.
    public let margin: Float
    /// `w`.
    public let labelLossWeight: Float
    /// `λ^V` and `λ^K` (exp of `log_lambda`).
    let temperatures: [CrossAttention.Temperatures]
    /// `α = sigmoid(alpha_logit)`.
    let alpha: Float
    /// The gate's weights laid out for ``ModalityGate``.
    let gate: CASCGateWeights

    var sizes: Sizes {
        Sizes(
            buckets: hashBuckets,
            d: embeddingDimension,
            regionDimension: regionDimension,
            gate: gateDimension,
            labels: labelBuckets
        )
    }

    /// Fresh parameters: Glorot-uniform `E_q`, `E_k`, `W_v`, `W_1`, `W_2`, `M_v`, `M_k` from a seeded SplitMix64 (in
    /// ``Tensor`` order, row-major, limit `sqrt(6 / (rows + columns))`), zero biases, zero `m_v`, `m_k` (an even
    /// mix until trained), SCAN's temperatures and `α` = 0.8. Hyper-parameters: `H`, `d`, `D`, `h`, `margin`
    /// (defaults those of ``ModelConfiguration``), `L` (1024) and `label_weight` (1).
    public static func initialParameters(
        seed: UInt64,
        hyperParameters values: [String: Double]
    ) throws
        -> ModelParameters
    {
        typealias P = HyperParameter
        let defaults = ModelConfiguration()
        let sizes = Sizes(
            buckets: try HyperParameters.dimension(P.hashBuckets, in: values, default: defaults.hashBuckets),
            d: try HyperParameters.dimension(P.embeddingDimension, in: values, default: defaults.embeddingDimension),
            regionDimension: try HyperParameters.dimension(
                P.regionDimension,
                in: values,
                default: defaults.regionDimension
            ),
            gate: try HyperParameters.dimension(P.gateDimension, in: values, default: defaults.modalityDimension),
            labels: try HyperParameters.dimension(P.labelBuckets, in: values, default: defaultLabelBuckets)
        )
        let margin = try HyperParameters.margin(in: values, default: defaults.margin)
        let labelLossWeight = try Self.labelLossWeight(in: values, default: defaultLabelLossWeight)
        var rng = SplitMix64(seed: seed)
        let tensors = Tensor.allCases.map { tensor in
            let shape = tensor.shape(sizes)
            var values = [Float](repeating: 0, count: shape.rows * shape.columns)
            switch tensor {
            case .queryEmbedding, .keywordEmbedding, .regionWeight, .labelHiddenWeight, .labelWeight,
                .visualGateWeight, .keywordGateWeight:
                let limit = (6 / Float(shape.rows + shape.columns)).squareRoot()
                for i in values.indices { values[i] = rng.nextSymmetric(limit) }
            case .logTemperatures:
                for i in values.indices { values[i] = initialTemperatures[i % 3].logValue }
            case .alphaLogit:
                values[0] = (initialAlpha / (1 - initialAlpha)).logValue
            default:
                break
            }
            return NamedTensor(name: tensor.rawValue, rows: shape.rows, columns: shape.columns, values: values)
        }
        return ModelParameters(
            architecture: architecture,
            hyperParameters: [
                P.hashBuckets: Double(sizes.buckets), P.embeddingDimension: Double(sizes.d),
                P.regionDimension: Double(sizes.regionDimension), P.gateDimension: Double(sizes.gate),
                P.margin: Double(margin), P.labelBuckets: Double(sizes.labels),
                P.labelLossWeight: Double(labelLossWeight),
            ],
            tensors: tensors
        )
    }

    /// A finite, non-negative label loss weight, or `defaultValue` when absent.
    static func labelLossWeight(in values: [String: Double], default defaultValue: Float) throws -> Float {
        guard let value = values[HyperParameter.labelLossWeight] else { return defaultValue }
        guard value.isFinite, value >= 0 else {
            throw ModelError(.shapeMismatch, "hyper-parameter label_weight is out of range")
        }
        return Float(value)
    }

    /// Builds the model from CASC parameters.
    /// - Parameter parameters: Parameters of this architecture.
    /// - Throws: ``ModelError`` (`shape_mismatch`) if the architecture, a hyper-parameter, a tensor's name or shape
    ///   does not match.
    public init(parameters: ModelParameters) throws {
        guard parameters.architecture == Self.architecture else {
            throw ModelError(.shapeMismatch, "parameters of architecture \(parameters.architecture), not casc")
        }
        typealias P = HyperParameter
        let values = parameters.hyperParameters
        let required = [
            P.hashBuckets, P.embeddingDimension, P.regionDimension, P.gateDimension, P.margin, P.labelBuckets,
            P.labelLossWeight,
        ]
        for name in required where values[name] == nil {
            throw ModelError(.shapeMismatch, "hyper-parameter \(name) is missing")
        }
        hashBuckets = try HyperParameters.dimension(P.hashBuckets, in: values, default: 0)
        embeddingDimension = try HyperParameters.dimension(P.embeddingDimension, in: values, default: 0)
        regionDimension = try HyperParameters.dimension(P.regionDimension, in: values, default: 0)
        gateDimension = try HyperParameters.dimension(P.gateDimension, in: values, default: 0)
        labelBuckets = try HyperParameters.dimension(P.labelBuckets, in: values, default: 0)
        margin = try HyperParameters.margin(in: values, default: 0)
        labelLossWeight = try Self.labelLossWeight(in: values, default: 0)
        guard parameters.tensors.count == Tensor.allCases.count else {
            throw ModelError(.shapeMismatch, "unexpected tensor count")
        }
        let sizes = Sizes(
            buckets: hashBuckets,
            d: embeddingDimension,
            regionDimension: regionDimension,
            gate: gateDimension,
            labels: labelBuckets
        )
        for (tensor, stored) in zip(Tensor.allCases, parameters.tensors) {
            let shape = tensor.shape(sizes)
            guard stored.name == tensor.rawValue else {
                throw ModelError(.shapeMismatch, "expected tensor \(tensor.rawValue)")
            }
            guard stored.rows == shape.rows, stored.columns == shape.columns else {
                throw ModelError(.shapeMismatch, "tensor \(tensor.rawValue) has the wrong shape")
            }
        }
        self.parameters = parameters
        let logs = parameters.tensors[Tensor.logTemperatures.index].values
        temperatures = (0..<Self.branchCount).map { b in
            CrossAttention.Temperatures(
                textToImage: logs[3 * b].expValue,
                imageToText: logs[3 * b + 1].expValue,
                pooling: logs[3 * b + 2].expValue
            )
        }
        alpha = 1 / (1 + (-parameters.tensors[Tensor.alphaLogit.index].values[0]).expValue)
        gate = CASCGateWeights(
            d: embeddingDimension,
            h: gateDimension,
            visual: (
                parameters.tensors[Tensor.visualGateWeight.index].values,
                parameters.tensors[Tensor.visualGateBias.index].values,
                parameters.tensors[Tensor.visualGateScore.index].values
            ),
            keyword: (
                parameters.tensors[Tensor.keywordGateWeight.index].values,
                parameters.tensors[Tensor.keywordGateBias.index].values,
                parameters.tensors[Tensor.keywordGateScore.index].values
            )
        )
    }

    /// One tensor's values.
    /// - Parameter tensor: The tensor.
    public subscript(tensor: Tensor) -> [Float] { parameters.tensors[tensor.index].values }

    // MARK: - Labels

    /// The label set `y_q` of a query: each word's label (``label(of:)``), distinct, ascending (empty for a query
    /// without words).
    /// - Parameter words: The query's word bags, in word order (``QueryInput/wordBags``).
    /// - Returns: The label buckets.
    public func labels(of words: [SparseVector]) -> [Int32] {
        Array(Set(words.map(label(of:)))).sorted()
    }

    /// The label of one query token: 32-bit FNV-1a (``LetterTrigramHasher/fnv1a(_:)``) over its trigram bag — each
    /// entry's bucket index (`UInt32`) then its count's IEEE bit pattern (`UInt32`), little-endian, in bag order —
    /// modulo `L`. A token is identified by its bag, which is what the model reads: serving, training and a
    /// reference given only word bags all compute the same labels.
    /// - Parameter word: A word's trigram bag.
    /// - Returns: Its label bucket in `0..<L`.
    public func label(of word: SparseVector) -> Int32 {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 * word.indices.count)
        for (index, count) in zip(word.indices, word.counts) {
            for value in [UInt32(bitPattern: index), count.bitPattern] {
                for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
            }
        }
        return Int32(LetterTrigramHasher.fnv1a(bytes) % UInt32(labelBuckets))
    }

    // MARK: - Encoders

    /// Hashes and encodes a normalised query (``QueryInput``): the words `e_j` as ``EncodedQuery/vector``
    /// (Q × d) and, as its terms, the gate's per-query halves `c_v + M_v[:, :d] ē` | `c_k + M_k[:, :d] ē` (h each)
    /// and the label buckets `y_q` (as floats); its norm is `sqrt(|y_q|)`.
    public func encodeQuery(_ text: String) -> EncodedQuery {
        let input = QueryInput(text, buckets: hashBuckets)
        return encodeQuery(words: input.wordBags, labels: labels(of: input.wordBags), bag: input.bag)
    }

    /// Encodes a query from its word bags and labels (see ``encodeQuery(_:)``).
    func encodeQuery(words: [SparseVector], labels: [Int32], bag: SparseVector) -> EncodedQuery {
        let (d, h) = (embeddingDimension, gateDimension)
        let encoded = encodeWords(words)
        var terms = [Float](repeating: 0, count: 2 * h)
        if !words.isEmpty {
            encoded.vectors.withUnsafeBufferPointer { vectors in
                terms.withUnsafeMutableBufferPointer { terms in
                    var mean = [Float](repeating: 0, count: d)
                    mean.withUnsafeMutableBufferPointer { meanBuffer in
                        let ebar = VectorView(meanBuffer.baseAddress!, count: d)
                        Self.mean(of: MatrixView(vectors.baseAddress!, rows: words.count, columns: d), into: ebar)
                        let visual = VectorView(terms.baseAddress!, count: h)
                        let keyword = VectorView(terms.baseAddress! + h, count: h)
                        gate.withGate { gate in
                            gate.visual.queryTerm(ebar, into: visual)
                            gate.keyword.queryTerm(ebar, into: keyword)
                        }
                    }
                }
            }
        }
        terms += labels.map { Float($0) }
        return EncodedQuery(
            input: bag,
            vector: encoded.vectors,
            terms: terms,
            norm: Float(labels.count).squareRoot()
        )
    }

    /// `e_j = norm(tanh(E_qᵀ x_j + b_q))` for each word (Q × d), with the tanh outputs and their norms for the
    /// backward pass.
    func encodeWords(_ words: [SparseVector]) -> (vectors: [Float], activations: [Float], norms: [Float]) {
        let d = embeddingDimension
        var activations = [Float](repeating: 0, count: words.count * d)
        var vectors = activations
        var norms = [Float](repeating: 0, count: words.count)
        let (table, bias) = (self[.queryEmbedding], self[.queryBias])
        for (j, bag) in words.enumerated() {
            activations.withUnsafeMutableBufferPointer { out in
                vectors.withUnsafeMutableBufferPointer { vectors in
                    norms[j] = embedNormalised(
                        bag,
                        table: table,
                        bias: bias,
                        activation: VectorView(out.baseAddress! + j * d, count: d),
                        into: VectorView(vectors.baseAddress! + j * d, count: d)
                    )
                }
            }
        }
        return (vectors, activations, norms)
    }

    /// `t = tanh(tableᵀ x + bias)` into `activation`, `t / |t|` into `out`; returns `|t|`.
    func embedNormalised(
        _ bag: SparseVector,
        table: [Float],
        bias: [Float],
        activation: VectorView,
        into out: VectorView
    ) -> Float {
        let d = embeddingDimension
        for index in bag.indices {
            precondition(index >= 0 && Int(index) < hashBuckets, "sparse input index outside 0..<hashBuckets")
        }
        table.withUnsafeBufferPointer { table in
            bias.withUnsafeBufferPointer { bias in
                bag.indices.withUnsafeBufferPointer { indices in
                    bag.counts.withUnsafeBufferPointer { counts in
                        Kernels.gather(
                            activation.base,
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
        activation.tanh()
        let norm = activation.norm
        out.assign(1 / norm, times: activation)
        return norm
    }

    /// `x = (1/rows) Σ_i m[i]`.
    static func mean(of m: MatrixView, into x: VectorView) {
        x.zero()
        for i in 0..<m.rows { x.add(m[i]) }
        if m.rows > 0 { x.assign(1 / Float(m.rows), times: x) }
    }

    /// The size of an image's encoded block: `v_i` (R × d) | `k_l` (K × d) | `σ̂` (L).
    func blockCount(regionCount: Int, keywordCount: Int) -> Int {
        (regionCount + keywordCount) * embeddingDimension + labelBuckets
    }

    /// The encoded blocks `v_i` (R × d) | `k_l` (K × d) | `σ̂ = σ(p)/|σ(p)|` (L), one contiguous block per image in
    /// one allocation for the batch.
    public func encodeImages(_ images: [ImageFeatures]) -> [EncodedImage] {
        let counts = images.map { blockCount(regionCount: $0.regionCount, keywordCount: $0.keywords.count) }
        let storage = EncodedImageStorage(count: counts.reduce(0, +))
        var offset = 0
        return zip(images, counts).map { image, count in
            let encoding = encode(image)
            encoding.block.withUnsafeBufferPointer {
                (storage.base + offset).update(from: $0.baseAddress!, count: count)
            }
            defer { offset += count }
            return EncodedImage(
                regionCount: image.regionCount,
                keywordCount: image.keywords.count,
                storage: storage,
                offset: offset,
                count: count
            )
        }
    }

    /// One image's query-independent forward pass, with what the backward pass needs.
    struct ImageEncoding {
        /// `v_i` (R × d) | `k_l` (K × d) | `σ̂` (L): the cached block.
        var block: [Float]
        /// `|W_v r_i + b_v|` (R).
        var regionNorms: [Float]
        /// `tanh(E_kᵀ x_l + b_k)` (K × d) and their norms (K).
        var keywordActivations: [Float]
        var keywordNorms: [Float]
        /// `mean_i v_i` (d), `tanh(W_1 mean + b_1)` (d), `σ(p)` (L) and `|σ(p)|`.
        var meanRegion: [Float]
        var labelHidden: [Float]
        var probabilities: [Float]
        var probabilityNorm: Float
        /// The label logits `p` (L).
        var logits: [Float]
    }

    /// The query-independent forward pass of one image.
    func encode(_ image: ImageFeatures) -> ImageEncoding {
        let (d, dim, r, k, labels) = (
            embeddingDimension, regionDimension, image.regionCount, image.keywords.count, labelBuckets
        )
        precondition(image.regions.count == r * dim, "regions must be regionCount × regionDimension")
        var block = [Float](repeating: 0, count: blockCount(regionCount: r, keywordCount: k))
        var regionNorms = [Float](repeating: 0, count: r)
        var keywordActivations = [Float](repeating: 0, count: k * d)
        var keywordNorms = [Float](repeating: 0, count: k)
        var meanRegion = [Float](repeating: 0, count: d)
        var labelHidden = [Float](repeating: 0, count: d)
        var logits = [Float](repeating: 0, count: labels)
        var probabilities = [Float](repeating: 0, count: labels)
        var probabilityNorm: Float = 0
        let (regionWeight, regionBias) = (self[.regionWeight], self[.regionBias])
        let (keywordTable, keywordBias) = (self[.keywordEmbedding], self[.keywordBias])
        let (hiddenWeight, hiddenBias) = (self[.labelHiddenWeight], self[.labelHiddenBias])
        let (labelWeight, labelBias) = (self[.labelWeight], self[.labelBias])
        block.withUnsafeMutableBufferPointer { block in
            let base = block.baseAddress!
            // v_i = norm(W_v r_i + b_v)
            regionWeight.withUnsafeBufferPointer { weight in
                image.regions.withUnsafeBufferPointer { features in
                    for i in 0..<r {
                        let v = VectorView(base + i * d, count: d)
                        for j in 0..<d {
                            v[j] =
                                regionBias[j]
                                + Kernels.dot(weight.baseAddress! + j * dim, features.baseAddress! + i * dim, dim)
                        }
                        let norm = v.norm
                        regionNorms[i] = norm
                        v.assign(1 / norm, times: v)
                    }
                }
            }
            // k_l = norm(tanh(E_kᵀ x_l + b_k))
            keywordActivations.withUnsafeMutableBufferPointer { activations in
                for (l, bag) in image.keywords.enumerated() {
                    keywordNorms[l] = embedNormalised(
                        bag,
                        table: keywordTable,
                        bias: keywordBias,
                        activation: VectorView(activations.baseAddress! + l * d, count: d),
                        into: VectorView(base + (r + l) * d, count: d)
                    )
                }
            }
            // p = W_2 tanh(W_1 mean_i v_i + b_1) + b_2; σ̂ = σ(p) / |σ(p)|
            meanRegion.withUnsafeMutableBufferPointer { mean in
                labelHidden.withUnsafeMutableBufferPointer { hidden in
                    let meanView = VectorView(mean.baseAddress!, count: d)
                    Self.mean(of: MatrixView(base, rows: r, columns: d), into: meanView)
                    hiddenWeight.withUnsafeBufferPointer { w1 in
                        for j in 0..<d {
                            hidden[j] = hiddenBias[j] + Kernels.dot(w1.baseAddress! + j * d, mean.baseAddress!, d)
                        }
                    }
                    VectorView(hidden.baseAddress!, count: d).tanh()
                    labelWeight.withUnsafeBufferPointer { w2 in
                        for l in 0..<labels {
                            logits[l] = labelBias[l] + Kernels.dot(w2.baseAddress! + l * d, hidden.baseAddress!, d)
                        }
                    }
                }
            }
            for l in 0..<labels { probabilities[l] = Self.sigmoid(logits[l]) }
            probabilities.withUnsafeBufferPointer { sigma in
                let view = VectorView(sigma.baseAddress!, count: labels)
                probabilityNorm = view.norm
                VectorView(base + (r + k) * d, count: labels).assign(1 / probabilityNorm, times: view)
            }
        }
        return ImageEncoding(
            block: block,
            regionNorms: regionNorms,
            keywordActivations: keywordActivations,
            keywordNorms: keywordNorms,
            meanRegion: meanRegion,
            labelHidden: labelHidden,
            probabilities: probabilities,
            probabilityNorm: probabilityNorm,
            logits: logits
        )
    }

    /// `1 / (1 + e^{−x})`.
    static func sigmoid(_ x: Float) -> Float { 1 / (1 + (-x).expValue) }

    // MARK: - Scoring

    /// Scores encoded images; the modality weights are the gate's `β_v`, `β_k` (all on the one branch an image has
    /// when it lacks regions or keywords; 0.5 each for an empty query, which scores 0 for every image).
    public func score(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoredImage] {
        forEach(query: query, encodedImages: encodedImages) { index, pass, _ in
            ScoredImage(index: index, score: pass.score, visualWeight: pass.betaV, languageWeight: pass.betaK)
        }
    }

    /// Explains each score: the mixing weights `visual` = `β_v` and `language` = `β_k` (they sum to 1; `α` is one
    /// number for every query and image, so it is in `Docs/model.md`, not in each explanation), the region branch's
    /// text-to-image attention over the grid averaged over the query words (`mean_j α_ji`), and the keyword branch's
    /// likewise, ranked.
    public func explain(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoreExplanation] {
        forEach(query: query, encodedImages: encodedImages) { _, pass, scratch in
            var regionAttention: ScoreExplanation.GridAttention?
            var keywordAttention: [ScoreExplanation.ItemWeight] = []
            if pass.visual != nil {
                let weights = scratch.attentionWeights(scratch.visual)
                regionAttention = ScoreExplanation.GridAttention(weights: weights)
            }
            if pass.keyword != nil {
                keywordAttention = ScoreExplanation.ItemWeight.ranked(scratch.attentionWeights(scratch.keyword))
            }
            return ScoreExplanation(
                architecture: Self.architecture,
                score: pass.score,
                mixingWeights: [
                    ScoreExplanation.MixingWeight(name: AMCModel.visualWeightName, weight: pass.betaV),
                    ScoreExplanation.MixingWeight(name: AMCModel.languageWeightName, weight: pass.betaK),
                ],
                regionAttention: regionAttention,
                keywordAttention: keywordAttention
            )
        }
    }

    /// True when `other` is a CASC model with the same dimensions and identical image-side tensors (`E_k`, `b_k`,
    /// `W_v`, `b_v` and the label head).
    public func sharesImageEncodings(with other: any ScoringModel) -> Bool {
        guard let other = other as? CASCModel, sizes == other.sizes else { return false }
        let imageSide: [Tensor] = [
            .keywordEmbedding, .keywordBias, .regionWeight, .regionBias, .labelHiddenWeight, .labelHiddenBias,
            .labelWeight, .labelBias,
        ]
        return imageSide.allSatisfy { self[$0] == other[$0] }
    }

    /// Runs the per-(query, image) forward pass over every image with one scratch for the whole batch.
    private func forEach<Result>(
        query: EncodedQuery,
        encodedImages: [EncodedImage],
        _ body: (Int, Pass, CASCScratch) -> Result
    ) -> [Result] {
        let (d, h) = (embeddingDimension, gateDimension)
        precondition(query.vector.count % d == 0 && query.terms.count >= 2 * h, "query encoded by another architecture")
        let wordCount = query.vector.count / d
        let scratch = CASCScratch(
            maxRegions: encodedImages.map(\.regionCount).max() ?? 0,
            maxKeywords: encodedImages.map(\.keywordCount).max() ?? 0,
            words: wordCount,
            d: d,
            h: h
        )
        return query.vector.withUnsafeBufferPointer { vector in
            query.terms.withUnsafeBufferPointer { terms in
                let state = QueryState(
                    words: MatrixView(vector.baseAddress ?? UnsafePointer(scratch.empty), rows: wordCount, columns: d),
                    visualTerm: VectorView(terms.baseAddress!, count: h),
                    keywordTerm: VectorView(terms.baseAddress! + h, count: h),
                    labels: UnsafeBufferPointer(rebasing: terms[(2 * h)...]),
                    labelNorm: query.norm
                )
                return encodedImages.enumerated().map { index, image in
                    precondition(
                        image.count == blockCount(regionCount: image.regionCount, keywordCount: image.keywordCount),
                        "image encoded by another architecture or dimensions"
                    )
                    let pass = image.withValues { block in
                        forward(
                            query: state,
                            block: UnsafePointer(block),
                            regionCount: image.regionCount,
                            keywordCount: image.keywordCount,
                            scratch: scratch
                        )
                    }
                    return body(index, pass, scratch)
                }
            }
        }
    }

    // MARK: - The per-(query, image) forward pass (shared with training)

    /// A query as the per-image pass reads it.
    struct QueryState {
        /// `e_j` (Q × d).
        var words: MatrixView
        /// `c_v + M_v[:, :d] ē` and `c_k + M_k[:, :d] ē` (h each).
        var visualTerm: VectorView
        var keywordTerm: VectorView
        /// `y_q`, label buckets as floats.
        var labels: UnsafeBufferPointer<Float>
        /// `sqrt(|y_q|)`.
        var labelNorm: Float
    }

    /// What one per-(query, image) pass computed.
    struct Pass {
        var score: Float
        var betaV: Float
        var betaK: Float
        /// The region and keyword branches' scores (nil: the image has no such fragments, or the query no words).
        var visual: CrossAttention.Scores?
        var keyword: CrossAttention.Scores?
        /// `β_v S^V + β_k S^K` and `cos(σ(p), y_q)`.
        var local: Float
        var labelAgreement: Float
    }

    /// `S = α(β_v S^V + β_k S^K) + (1 − α) cos(σ(p), y_q)` for one encoded image; the branches' state stays in
    /// `scratch` (its cross-attention workspaces, the gate inputs `mean_j a_j` and hidden layers).
    func forward(
        query: QueryState,
        block: UnsafePointer<Float>,
        regionCount r: Int,
        keywordCount k: Int,
        scratch: CASCScratch
    ) -> Pass {
        let d = embeddingDimension
        let q = query.words.rows
        guard q > 0 else {
            return Pass(score: 0, betaV: 0.5, betaK: 0.5, visual: nil, keyword: nil, local: 0, labelAgreement: 0)
        }
        let regions = MatrixView(block, rows: r, columns: d)
        let keywords = MatrixView(block + r * d, rows: k, columns: d)
        let probabilities = VectorView(block + (r + k) * d, count: labelBuckets)
        var visual: CrossAttention.Scores?
        var keyword: CrossAttention.Scores?
        if r > 0 {
            let scores = CrossAttention.forward(
                fragments: regions,
                words: query.words,
                temperatures: temperatures[0],
                workspace: scratch.visual
            )
            Self.mean(of: scratch.visual.t2iAttended, into: scratch.visualInput)
            visual = scores
        }
        if k > 0 {
            let scores = CrossAttention.forward(
                fragments: keywords,
                words: query.words,
                temperatures: temperatures[1],
                workspace: scratch.keyword
            )
            Self.mean(of: scratch.keyword.t2iAttended, into: scratch.keywordInput)
            keyword = scores
        }
        var (betaV, betaK): (Float, Float) = keyword == nil ? (1, 0) : (0, 1)
        if visual != nil && keyword != nil {
            (betaV, betaK) = gate.withGate { gate in
                gate.weights(
                    visual: scratch.visualInput,
                    keyword: scratch.keywordInput,
                    visualQueryTerm: query.visualTerm,
                    keywordQueryTerm: query.keywordTerm,
                    visualHidden: scratch.visualHidden,
                    keywordHidden: scratch.keywordHidden
                )
            }
        }
        let sv = visual.map { ($0.textToImage + $0.imageToText) / 2 } ?? 0
        let sk = keyword.map { ($0.textToImage + $0.imageToText) / 2 } ?? 0
        let local: Float =
            visual != nil && keyword != nil ? betaV * sv + betaK * sk : visual != nil ? sv : keyword != nil ? sk : 0
        var agreement: Float = 0
        if !query.labels.isEmpty {
            for label in query.labels { agreement += probabilities[Int(label)] }
            agreement /= query.labelNorm
        }
        let score = alpha * local + (1 - alpha) * agreement
        return Pass(
            score: score,
            betaV: betaV,
            betaK: betaK,
            visual: visual,
            keyword: keyword,
            local: local,
            labelAgreement: agreement
        )
    }
}

// MARK: - Scratch and packed gate

/// The scratch of CASC's per-(query, image) pass, allocated once per scoring call (or per image slot in training):
/// a cross-attention workspace per branch, the gate inputs and hidden layers.
final class CASCScratch {
    let visual: CrossAttentionWorkspace
    let keyword: CrossAttentionWorkspace
    private let storage: UnsafeMutablePointer<Float>
    private let d: Int
    private let h: Int

    init(maxRegions: Int, maxKeywords: Int, words: Int, d: Int, h: Int) {
        visual = CrossAttentionWorkspace(fragmentCapacity: maxRegions, wordCapacity: words, dimension: d)
        keyword = CrossAttentionWorkspace(fragmentCapacity: maxKeywords, wordCapacity: words, dimension: d)
        self.d = d
        self.h = h
        let count = 2 * d + 2 * h + 1
        storage = .allocate(capacity: count)
        storage.initialize(repeating: 0, count: count)
    }

    deinit { storage.deallocate() }

    /// `mean_j a^V_j` and `mean_j a^K_j` (d each).
    var visualInput: VectorView { VectorView(storage, count: d) }
    var keywordInput: VectorView { VectorView(storage + d, count: d) }
    /// The gate branches' hidden layers (h each).
    var visualHidden: VectorView { VectorView(storage + 2 * d, count: h) }
    var keywordHidden: VectorView { VectorView(storage + 2 * d + h, count: h) }
    /// A valid pointer for an empty query's word matrix.
    var empty: UnsafeMutablePointer<Float> { storage + 2 * d + 2 * h }

    /// `mean_j α_ji` of a branch's last pass.
    func attentionWeights(_ workspace: CrossAttentionWorkspace) -> [Float] {
        var weights = [Float](repeating: 0, count: workspace.fragmentCount)
        weights.withUnsafeMutableBufferPointer { out in
            CrossAttention.averageTextToImageWeights(
                workspace,
                into: VectorView(out.baseAddress!, count: workspace.fragmentCount)
            )
        }
        return weights
    }
}

/// CASC's gate weights laid out for ``ModalityGate``: per branch `M` (h × 2d), its halves transposed
/// (`M[:, :d]ᵀ`, `M[:, d:]ᵀ`, d × h each), `c` and `m`, in one allocation made when the model is built.
final class CASCGateWeights: @unchecked Sendable {
    // @unchecked Sendable: written only in init, read-only afterwards.
    private let storage: UnsafeMutablePointer<Float>
    private let d: Int
    private let h: Int

    init(
        d: Int,
        h: Int,
        visual: (weight: [Float], bias: [Float], score: [Float]),
        keyword: (weight: [Float], bias: [Float], score: [Float])
    ) {
        self.d = d
        self.h = h
        let branchCount = 4 * d * h + 2 * h
        storage = .allocate(capacity: 2 * branchCount)
        for (b, branch) in [visual, keyword].enumerated() {
            let base = storage + b * branchCount
            base.initialize(from: branch.weight, count: 2 * d * h)
            for row in 0..<h {
                for c in 0..<d {
                    (base + 2 * d * h)[c * h + row] = branch.weight[row * 2 * d + c]
                    (base + 3 * d * h)[c * h + row] = branch.weight[row * 2 * d + d + c]
                }
            }
            (base + 4 * d * h).initialize(from: branch.bias, count: h)
            (base + 4 * d * h + h).initialize(from: branch.score, count: h)
        }
    }

    deinit { storage.deallocate() }

    private func branch(_ b: Int) -> ModalityBranch {
        let base = storage + b * (4 * d * h + 2 * h)
        return ModalityBranch(
            queryWeightT: MatrixView(base + 2 * d * h, rows: d, columns: h),
            inputWeightT: MatrixView(base + 3 * d * h, rows: d, columns: h),
            weight: MatrixView(base, rows: h, columns: 2 * d),
            bias: VectorView(base + 4 * d * h, count: h),
            score: VectorView(base + 4 * d * h + h, count: h)
        )
    }

    /// The gate, valid for the duration of `body`.
    func withGate<Result>(_ body: (ModalityGate) -> Result) -> Result {
        let result = body(ModalityGate(visual: branch(0), keyword: branch(1)))
        withExtendedLifetime(self) {}
        return result
    }
}
