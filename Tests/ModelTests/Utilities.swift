import Model

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
