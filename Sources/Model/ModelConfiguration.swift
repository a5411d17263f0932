/// Dimensions and hyperparameters of the AMC scoring model (see `Docs/model.md`).
public struct ModelConfiguration: Sendable, Hashable {
    /// Number of letter-trigram hash buckets (the width of the sparse text input).
    /// Default: 4096. Key: `model.hashBuckets`.
    public var hashBuckets: Int = 4096
    /// Dimension `d` of the shared embedding space (query, keywords, regions).
    /// Default: 64. Key: `model.embeddingDimension`.
    public var embeddingDimension: Int = 64
    /// Hidden dimension `a` of the visual (VAN) and keyword (LAN) attention networks.
    /// Default: 32. Key: `model.attentionDimension`.
    public var attentionDimension: Int = 32
    /// Hidden dimension `h` of the modality attention network (MTN).
    /// Default: 32. Key: `model.modalityDimension`.
    public var modalityDimension: Int = 32
    /// Dimension `D` of one region cell feature, as given by the image catalog.
    /// Default: 32. Key: `model.regionDimension`.
    public var regionDimension: Int = 32
    /// Ranking hinge margin.
    /// Default: 0.2. Key: `model.margin`.
    public var margin: Float = 0.2

    /// Creates the default configuration.
    public init() {}
}
