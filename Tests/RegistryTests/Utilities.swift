import Model

/// A small AMC configuration for blob tests.
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
