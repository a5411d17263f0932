import Model
import Testing

/// The small configuration used by gradient checks and training tests.
func smallConfiguration(margin: Float = 0.2) -> ModelConfiguration {
    var c = ModelConfiguration()
    c.hashBuckets = 64
    c.embeddingDimension = 8
    c.attentionDimension = 4
    c.modalityDimension = 4
    c.regionDimension = 6
    c.margin = margin
    return c
}

/// Random image features: `regionCount` cells in [-1, 1) and the given keywords hashed.
func makeImage(
    _ rng: inout SplitMix64,
    configuration c: ModelConfiguration,
    regionCount: Int,
    keywords: [String]
) -> ImageFeatures {
    var regions: [Float] = []
    for _ in 0..<(regionCount * c.regionDimension) { regions.append(rng.nextSymmetric(1)) }
    return ImageFeatures(
        regions: regions,
        regionCount: regionCount,
        keywords: keywords.map { LetterTrigramHasher.encode($0, buckets: c.hashBuckets) }
    )
}

/// Checks the analytic gradient of one tensor against central differences of the loss (ε = 1e-3; `objective`, the
/// function differentiated, defaults to ``ScoringModel/loss(for:)``) at the given entries: each within 1e-2 of the
/// larger magnitude plus `slack`. Records an issue per entry that differs.
/// - Returns: `Σ |analytic|` over the entries (a caller checks that the sampled entries are not all zero).
func expectGradientMatchesCentralDifferences<Architecture: ScoringModel>(
    _ model: Architecture,
    tensor index: Int,
    entries: [Int],
    example: TrainingExample,
    analytic: ParameterGradients,
    slack: Float,
    objective: (Architecture, TrainingExample) -> Float = { $0.loss(for: $1) }
) throws -> Float {
    let stored = model.parameters.tensors[index]
    let epsilon: Float = 1e-3
    func loss(_ entry: Int, _ delta: Float) throws -> Float {
        var parameters = model.parameters
        parameters.tensors[index].values[entry] += delta
        return objective(try Architecture(parameters: parameters), example)
    }
    var magnitude: Float = 0
    for entry in entries {
        let numeric = (try loss(entry, epsilon) - loss(entry, -epsilon)) / (2 * epsilon)
        let exact: Float
        if let sparse = analytic.sparse[stored.name] {
            exact = sparse[row: entry / stored.columns][entry % stored.columns]
        } else {
            exact = try #require(analytic.dense[stored.name])[entry]
        }
        magnitude += abs(exact)
        #expect(
            abs(exact - numeric) <= 1e-2 * max(abs(exact), abs(numeric)) + slack,
            "\(stored.name)[\(entry)]: analytic \(exact), numeric \(numeric)"
        )
    }
    return magnitude
}
