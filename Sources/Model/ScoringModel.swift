/// A scoring architecture: a model that ranks images for a query, built from architecture-neutral
/// ``ModelParameters`` and trained through the same interface whatever its equations.
///
/// Conformers are value types over an immutable parameter snapshot (pure math, no I/O). Serving holds an
/// `any ScoringModel`: it encodes each catalog image once per version (``encodeImages(_:)``), each request's
/// query once (``encodeQuery(_:)``), and scores the encoded candidates in one call
/// (``score(query:encodedImages:)``), so the existential costs one dynamic call per request, never one per image.
/// ``ModelArchitectures`` maps an architecture id to its type. See `Docs/model.md`.
public protocol ScoringModel: Sendable {
    /// The architecture's id, as stored in ``ModelParameters/architecture`` (e.g. `"amc"`).
    static var architecture: String { get }
    /// The version of the architecture's definition (equations and tensor layout) this code implements.
    static var architectureVersion: Int { get }
    /// The names of the architecture's online part: the tensors online fine-tuning may change.
    static var onlineTensorNames: [String] { get }
    /// Whether image encodings (``EncodedImage``) survive a change of only the online part, so a worker can keep
    /// its encoded catalog across such a hot swap.
    static var onlinePartKeepsImageEncodings: Bool { get }

    /// Fresh parameters for training from scratch.
    /// - Parameters:
    ///   - seed: The SplitMix64 seed of the initialisation.
    ///   - hyperParameters: Hyper-parameters by name; a missing one takes the architecture's default, names the
    ///     architecture does not use are ignored (one shared set of model settings serves every architecture).
    /// - Returns: The parameters.
    /// - Throws: ``ModelError`` (`shape_mismatch`) if a hyper-parameter is out of range.
    static func initialParameters(seed: UInt64, hyperParameters: [String: Double]) throws -> ModelParameters

    /// Builds the model from stored parameters.
    /// - Parameter parameters: Parameters of this architecture.
    /// - Throws: ``ModelError`` (`shape_mismatch`) if the architecture, a hyper-parameter or a tensor's name or shape
    ///   does not match.
    init(parameters: ModelParameters) throws

    /// The model's parameters: its architecture id, hyper-parameters and named tensors with their shapes.
    var parameters: ModelParameters { get }
    /// The letter-trigram bucket count `H` the model's text encoders read.
    var hashBuckets: Int { get }
    /// The region feature dimension `D` the model's visual encoder reads.
    var regionDimension: Int { get }
    /// Whether every parameter is finite (no NaN, no ±∞).
    var isFinite: Bool { get }

    /// Hashes and encodes a normalised query string.
    /// - Parameter text: The normalised query.
    /// - Returns: The encoded query, reusable for every image scored by this model.
    func encodeQuery(_ text: String) -> EncodedQuery

    /// Runs the query-independent part of the forward pass for each image.
    /// - Parameter images: The image features (`regions.count == regionCount × regionDimension`).
    /// - Returns: One ``EncodedImage`` per image, in input order.
    func encodeImages(_ images: [ImageFeatures]) -> [EncodedImage]

    /// Scores images encoded by this model (or one it shares image encodings with) for an encoded query.
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - encodedImages: The candidates.
    /// - Returns: One ``ScoredImage`` per image, in input order, with the modality weights that produced it.
    func score(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoredImage]

    /// Scores images encoded by this model and explains each score (``ScoreExplanation``: the architecture's mixing
    /// weights and whatever attention it computed), from the same forward pass, so each explanation's score is
    /// bit-identical to ``score(query:encodedImages:)``'s.
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - encodedImages: The candidates.
    /// - Returns: One explanation per image, in input order.
    func explain(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoreExplanation]

    /// This model with `part`'s tensors in place of its own: the model of a fine-tune whose stored part applies to
    /// this model's parameters. Equal to `Self(parameters: parameters.replacingTensors(with: part))`; an
    /// architecture may build it without redoing the work that depends only on tensors the part leaves alone.
    /// - Parameter part: Tensors of this architecture and hyper-parameters (a fine-tune's online part).
    /// - Returns: The model.
    /// - Throws: ``ModelError`` (`shape_mismatch`) when the part does not fit (``ModelParameters/checkPart(_:)``).
    func applyingPart(_ part: ModelParameters) throws -> any ScoringModel

    /// Whether images encoded by this model stay valid for `other` (same architecture and identical image-side
    /// tensors; true after fine-tuning only the online part when ``onlinePartKeepsImageEncodings``).
    /// - Parameter other: Another model.
    func sharesImageEncodings(with other: any ScoringModel) -> Bool

    /// The ranking hinge loss of one training example (forward only).
    /// - Parameter example: The query, its clicked image and the sampled negatives.
    /// - Returns: `Σ_t max(0, margin − s(q, pos) + s(q, neg_t))`.
    func loss(for example: TrainingExample) -> Float

    /// The loss of one training example and its gradient with respect to the tensors in `scope`.
    /// - Parameters:
    ///   - example: The query, its clicked image and the sampled negatives.
    ///   - scope: `.all`, or `.onlinePart` (gradients of ``onlineTensorNames`` only).
    /// - Returns: The loss and the gradients (tensors outside the scope are absent).
    func lossAndGradients(for example: TrainingExample, scope: ParameterScope) -> ExampleGradients

    /// The loss of one training example and the gradient of the loss plus the architecture's auxiliary losses at
    /// `auxiliaryWeight` (bootstrap training; AMS: each scale's own hinge), as ``NamedTensorTrainer`` trains it. The
    /// default is ``lossAndGradients(for:scope:)``: for an architecture without auxiliary losses, or one whose own
    /// trainer adds them (AMC's ``ModelTrainer``).
    /// - Parameters:
    ///   - example: The query, its clicked image and the sampled negatives.
    ///   - scope: `.all`, or `.onlinePart`.
    ///   - auxiliaryWeight: The auxiliary losses' weight (0: none).
    /// - Returns: The loss without the auxiliary terms, and the gradients of the weighted sum.
    func lossAndGradients(
        for example: TrainingExample,
        scope: ParameterScope,
        auxiliaryWeight: Float
    ) -> ExampleGradients

    /// A minibatch trainer for this model. The default is ``NamedTensorTrainer`` (any architecture); an
    /// architecture may return its own optimised trainer, which must compute the same step.
    /// - Parameter settings: The optimiser and the parameter scope.
    /// - Returns: The trainer, starting from this model.
    func makeTrainer(_ settings: TrainerSettings) -> any ScoringModelTrainer
}

/// Which tensors a training run computes gradients for and changes.
public enum ParameterScope: String, Sendable, Hashable, CaseIterable {
    /// Every tensor (bootstrap training).
    case all
    /// The architecture's online part only (``ScoringModel/onlineTensorNames``); every other tensor stays
    /// bit-identical.
    case onlinePart = "online_part"
}

/// How a trainer optimises: Adam's step size and the parameter scope.
public struct TrainerSettings: Sendable, Hashable {
    /// Adam's step size.
    public var learningRate: Float
    /// Which tensors are trained.
    public var scope: ParameterScope
    /// Weight of the architecture's auxiliary losses during bootstrap, for architectures that have them (AMC: the
    /// single-modality losses, ``ModelTrainer/auxiliaryModalityWeight``; AMS: the per-scale hinges); others ignore
    /// it, and no trainer uses it outside the `.all` scope. Default: 0.
    public var auxiliaryModalityWeight: Float

    /// Creates trainer settings.
    /// - Parameters:
    ///   - learningRate: Adam's step size.
    ///   - scope: Which tensors are trained.
    ///   - auxiliaryModalityWeight: Weight of the auxiliary losses (0: none).
    public init(learningRate: Float, scope: ParameterScope, auxiliaryModalityWeight: Float = 0) {
        self.learningRate = learningRate
        self.scope = scope
        self.auxiliaryModalityWeight = auxiliaryModalityWeight
    }
}

/// A minibatch trainer of one scoring model.
public protocol ScoringModelTrainer: Sendable {
    /// The model with every step so far applied.
    var scoringModel: any ScoringModel { get }
    /// One optimiser step on the mean gradient of the minibatch.
    /// - Parameter batch: The minibatch.
    /// - Returns: `Σ_examples L` at the parameters before the step (0 for an empty batch, which does nothing).
    mutating func step(_ batch: ArraySlice<TrainingExample>) -> Float
    /// Whether ``step(_:)`` reads ``TrainingExample/encoded`` when an example has it (the same bits as encoding the
    /// features), so that a caller holding the images' encodings should give them. Default: false.
    var readsExampleEncodings: Bool { get }
}

extension ScoringModelTrainer {
    /// False: the trainer encodes the examples' features.
    public var readsExampleEncodings: Bool { false }
}

extension ScoringModel {
    /// Hashes each keyword string into a trigram bag with this model's bucket count.
    /// - Parameter keywords: Normalised keyword strings.
    /// - Returns: One bag per keyword.
    public func keywordInputs(_ keywords: [String]) -> [SparseVector] {
        keywords.map { LetterTrigramHasher.encode($0, buckets: hashBuckets) }
    }

    /// The architecture's id.
    public var architecture: String { Self.architecture }

    /// Runs the query-independent part of the forward pass for one image (see ``encodeImages(_:)``).
    /// - Parameter image: The image features.
    /// - Returns: The encodings.
    public func encodeImage(_ image: ImageFeatures) -> EncodedImage {
        encodeImages([image])[0]
    }

    /// Scores raw images for a normalised query string (encodes the query and the images first).
    /// - Parameters:
    ///   - query: The normalised query.
    ///   - images: The candidates.
    /// - Returns: One ``ScoredImage`` per image, in input order.
    public func score(query: String, images: [ImageFeatures]) -> [ScoredImage] {
        score(query: encodeQuery(query), encodedImages: encodeImages(images))
    }

    /// Rebuilds the model from its parameters with the part's tensors replaced (see ``ScoringModel/applyingPart(_:)``).
    public func applyingPart(_ part: ModelParameters) throws -> any ScoringModel {
        try Self(parameters: parameters.replacingTensors(with: part))
    }

    /// No auxiliary losses: ``ScoringModel/lossAndGradients(for:scope:)`` whatever the weight.
    public func lossAndGradients(
        for example: TrainingExample,
        scope: ParameterScope,
        auxiliaryWeight: Float
    ) -> ExampleGradients {
        lossAndGradients(for: example, scope: scope)
    }

    /// The generic trainer over named tensors (see ``ScoringModel/makeTrainer(_:)``).
    public func makeTrainer(_ settings: TrainerSettings) -> any ScoringModelTrainer {
        NamedTensorTrainer(model: self, settings: settings)
    }

    /// Whether every tensor value is finite.
    public var isFinite: Bool {
        parameters.tensors.allSatisfy { tensor in tensor.values.allSatisfy(\.isFinite) }
    }
}
