/// The sizes and mix of a simulated Clickture-style world. Every field has a default; the world is a pure function
/// of this value (including ``seed``).
///
/// Codable: a world's configuration is written beside its files (``fileName``, every field by name), so tools that
/// need the world's truth — which images are relevant to a query and how much — regenerate the same world from it
/// (`amc simulate users`).
public struct WorldConfiguration: Sendable, Hashable, Codable {
    /// The name of the file, in a world's folder, that holds its configuration.
    public static let fileName = "world.json"

    /// Number of latent concepts. Default: 50.
    public var concepts = 50
    /// Number of images in the catalog. Default: 5000.
    public var images = 5000
    /// Region cells per image (R). Default: 16 (a 4 × 4 grid).
    public var regions = 16
    /// Dimension of one region feature (D). Default: 32.
    public var dimension = 32
    /// Fewest keywords per image. Default: 10.
    public var minKeywords = 10
    /// Most keywords per image. Default: 100.
    public var maxKeywords = 100
    /// Number of distinct training queries (those with clicks). Default: 2000.
    public var trainingQueries = 2000
    /// Number of distinct held-out (labelled) queries. Default: 500.
    public var heldOutQueries = 500
    /// Candidate images per held-out query. Default: 30.
    public var candidatesPerHeldOutQuery = 30
    /// Length of the ranked list shown for a training query. Default: 20.
    public var resultsPerPage = 20
    /// User sessions (page views) simulated per training query. Default: 10.
    public var sessionsPerQuery = 10
    /// Share of concepts (and so of queries) with visual intent; the rest have textual intent. Default: 0.5.
    public var visualShare = 0.5
    /// Share of the visual-intent concepts whose queries turn textual in the shifted click stream (at least one
    /// when positive). Default: 0.5.
    public var shiftedShare = 0.5
    /// Share of the images that are new uploads: never shown for a training query, used as held-out candidates.
    /// Default: 0.3.
    public var newUploadShare = 0.3
    /// Exponent of the examination probability `1 / (rank + 1)^k`. Default: 0.7.
    public var positionBiasExponent = 0.7
    /// Seed of every random choice. Default: 42.
    public var seed: UInt64 = 42

    /// The defaults.
    public init() {}

    /// A description of the first inconsistency, or nil when the configuration can be generated.
    public var problem: String? {
        if concepts < 2 { return "concepts must be at least 2" }
        if regions < 1 || dimension < 1 { return "region shape must be at least 1 × 1" }
        if minKeywords < 1 || maxKeywords < minKeywords || maxKeywords > 400 {
            return "keywords per image must satisfy 1 ≤ min ≤ max ≤ 400"
        }
        if trainingQueries < 1 || heldOutQueries < 1 { return "queries and held-out queries must be at least 1" }
        if candidatesPerHeldOutQuery < 2 { return "candidates per held-out query must be at least 2" }
        if resultsPerPage < 1 || sessionsPerQuery < 1 { return "results per page and sessions must be at least 1" }
        if !(0...1).contains(visualShare) { return "visual share must be in [0, 1]" }
        if !(0...1).contains(shiftedShare) { return "shifted share must be in [0, 1]" }
        if !(0.05...0.95).contains(newUploadShare) { return "new-upload share must be in [0.05, 0.95]" }
        if !positionBiasExponent.isFinite || positionBiasExponent < 0 { return "position bias must be ≥ 0" }
        let uploads = Int(Double(images) * newUploadShare)
        if uploads < candidatesPerHeldOutQuery { return "too few images: new uploads cannot fill one candidate list" }
        if images - uploads < resultsPerPage { return "too few images: the training pool cannot fill one page" }
        if uploads < 2 * concepts { return "too few images: need at least two new uploads per concept" }
        return nil
    }
}
