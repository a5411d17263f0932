/// One image of the simulated catalog.
public struct SimulatedImage: Sendable, Hashable {
    /// The catalog key.
    public var key: String
    /// Index of the image's concept.
    public var concept: Int
    /// How strongly the image shows its concept, in [0, 1] (share of prototype cells, and for textual concepts
    /// the tagger's accuracy). Candidates with strength ≥ ``World/excellentStrength`` are labelled Excellent.
    public var strength: Double
    /// The auto-tagger's keywords, distinct, in tagger order.
    public var keywords: [String]
    /// Region features, R × D row-major.
    public var regions: [Float]
    /// Whether the image is a new upload (never in a training click; a held-out candidate).
    public var isNewUpload: Bool
}
