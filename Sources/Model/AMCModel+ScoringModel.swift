// MARK: - AMC as a scoring architecture

extension AMCModel: ScoringModel {
    /// `"amc"`.
    public static let architecture = AMCWeights.architecture
    /// 1: the equations and tensors of `Docs/model.md`.
    public static let architectureVersion = 1
    /// The MTN (``AMCWeights/onlineTensorNames``).
    public static let onlineTensorNames = AMCWeights.onlineTensorNames
    /// True: the MTN reads the attended vectors, it does not produce them, so image encodings survive.
    public static let onlinePartKeepsImageEncodings = true

    /// Glorot-uniform weights (``AMCWeights/init(configuration:seed:)``) for the dimensions in `hyperParameters`
    /// (``AMCWeights/HyperParameter``; a missing one takes the ``ModelConfiguration`` default).
    public static func initialParameters(seed: UInt64, hyperParameters: [String: Double]) throws -> ModelParameters {
        typealias P = AMCWeights.HyperParameter
        let defaults = ModelConfiguration()
        var c = defaults
        c.hashBuckets = try HyperParameters.dimension(P.hashBuckets, in: hyperParameters, default: defaults.hashBuckets)
        c.embeddingDimension = try HyperParameters.dimension(
            P.embeddingDimension,
            in: hyperParameters,
            default: defaults.embeddingDimension
        )
        c.attentionDimension = try HyperParameters.dimension(
            P.attentionDimension,
            in: hyperParameters,
            default: defaults.attentionDimension
        )
        c.modalityDimension = try HyperParameters.dimension(
            P.modalityDimension,
            in: hyperParameters,
            default: defaults.modalityDimension
        )
        c.regionDimension = try HyperParameters.dimension(
            P.regionDimension,
            in: hyperParameters,
            default: defaults.regionDimension
        )
        c.margin = try HyperParameters.margin(in: hyperParameters, default: defaults.margin)
        return AMCWeights(configuration: c, seed: seed).parameters
    }

    /// Builds the attention model (``ModalityMode/attention``) from AMC parameters.
    /// - Parameter parameters: AMC parameters.
    /// - Throws: ``ModelError`` (`shape_mismatch`), see ``AMCWeights/init(parameters:)``.
    public init(parameters: ModelParameters) throws {
        self.init(weights: try AMCWeights(parameters: parameters))
    }

    /// The weights as named tensors.
    public var parameters: ModelParameters { weights.parameters }
    /// `H`.
    public var hashBuckets: Int { configuration.hashBuckets }
    /// `D`.
    public var regionDimension: Int { configuration.regionDimension }
    /// Whether every weight is finite.
    public var isFinite: Bool { weights.isFinite }

    /// This model with `part`'s tensors replaced, refreshing only their packed copies: every other buffer (the 2 MB
    /// trigram tables among them) is shared with this model, not rebuilt, so a worker swaps in a fine-tune of the
    /// model it serves in microseconds.
    public func applyingPart(_ part: ModelParameters) throws -> any ScoringModel {
        try parameters.checkPart(part)
        var model = self
        for tensor in part.tensors {
            guard let amcTensor = AMCTensor(rawValue: tensor.name) else {
                throw ModelError(.shapeMismatch, "AMC has no tensor \(tensor.name)")
            }
            model.storage.withTensor(amcTensor) { $0 = tensor.values }
            model.packed.refresh(amcTensor, from: model.storage)
        }
        return model
    }

    /// True when `other` is an AMC model with identical image encoders (``sharesImageEncoders(with:)``).
    public func sharesImageEncodings(with other: any ScoringModel) -> Bool {
        guard let other = other as? AMCModel else { return false }
        return sharesImageEncoders(with: other)
    }

    /// ``loss(query:positive:negatives:)`` of the example, from its images' encodings when it has them.
    public func loss(for example: TrainingExample) -> Float {
        var scratch = scratch(for: example.positive, example.negatives, gradients: false)
        return scratch.withEngine(packed, mode: mode, margin: configuration.margin) { engine, _ in
            var none: GradientSink? = nil
            return engine.example(
                query: example.query,
                positive: example.positive,
                negatives: example.negatives,
                encoded: example.encoded,
                full: false,
                sink: &none
            )
        }
    }

    /// ``lossAndGradients(query:positive:negatives:)`` as dense named gradients of the tensors in scope.
    public func lossAndGradients(for example: TrainingExample, scope: ParameterScope) -> ExampleGradients {
        let result = lossAndGradients(query: example.query, positive: example.positive, negatives: example.negatives)
        var dense: [String: [Float]] = [:]
        for tensor in AMCTensor.allCases where AdamOptimizer.Scope(scope).includes(tensor) {
            dense[tensor.rawValue] = result.gradients[tensor]
        }
        return ExampleGradients(loss: result.loss, gradients: ParameterGradients(dense: dense))
    }

    /// AMC's optimised trainer (``ModelTrainer``: packed weights, two threads, lazy `W_q`/`W_k` columns), which
    /// computes the step ``NamedTensorTrainer`` computes (bit for bit over the online part).
    public func makeTrainer(_ settings: TrainerSettings) -> any ScoringModelTrainer {
        var trainer = ModelTrainer(
            model: self,
            optimizer: AdamOptimizer(learningRate: settings.learningRate),
            scope: AdamOptimizer.Scope(settings.scope)
        )
        trainer.auxiliaryModalityWeight = settings.auxiliaryModalityWeight
        return trainer
    }
}

extension ModelTrainer: ScoringModelTrainer {
    /// ``model``.
    public var scoringModel: any ScoringModel { model }

    /// True when only the MTN trains: its backward pass stops before the image encoders, so the forward pass can
    /// read the examples' encodings.
    public var readsExampleEncodings: Bool { scope == .modalityAttentionOnly }
}

extension AdamOptimizer.Scope {
    /// AMC's scope for an architecture-neutral one (the online part is the MTN).
    /// - Parameter scope: The neutral scope.
    public init(_ scope: ParameterScope) {
        switch scope {
        case .all: self = .all
        case .onlinePart: self = .modalityAttentionOnly
        }
    }
}

/// Reading hyper-parameters by name, with defaults and range checks.
enum HyperParameters {
    /// A whole number in 1...2^24, or `defaultValue` when absent.
    static func dimension(_ name: String, in values: [String: Double], default defaultValue: Int) throws -> Int {
        guard let value = values[name] else { return defaultValue }
        guard value >= 1, value <= Double(1 << 24), value == value.rounded() else {
            throw ModelError(.shapeMismatch, "hyper-parameter \(name) is out of range")
        }
        return Int(value)
    }

    /// A finite margin, or `defaultValue` when absent.
    static func margin(in values: [String: Double], default defaultValue: Float) throws -> Float {
        guard let value = values[AMCWeights.HyperParameter.margin] else { return defaultValue }
        guard value.isFinite else { throw ModelError(.shapeMismatch, "hyper-parameter margin is not finite") }
        return Float(value)
    }
}
