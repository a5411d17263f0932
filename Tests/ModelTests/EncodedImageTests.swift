import Model
import Testing

@Suite struct EncodedImageTests {
    /// The serving fast path (images encoded once, per request only the query-dependent work) must give exactly
    /// the same scores and modality weights as scoring the raw features, for every mode and for images without
    /// regions or keywords.
    @Test(arguments: [ModalityMode.attention, .imageOnly, .keywordOnly])
    func encodedImagesScoreBitIdentically(mode: ModalityMode) {
        for c in [smallConfiguration(), ModelConfiguration()] {
            var rng = SplitMix64(seed: 42)
            let model = AMCModel(weights: AMCWeights(configuration: c, seed: 9), mode: mode)
            let words = ["snooki", "baby", "bump", "beach", "red car", "kitten", "sunset"]
            var images: [ImageFeatures] = []
            for i in 0..<24 {
                let regions = [0, 1, 4, 16][i % 4]
                let keywords = (0..<(i % 5)).map { _ in words[Int(rng.next() % UInt64(words.count))] }
                images.append(makeImage(&rng, configuration: c, regionCount: regions, keywords: keywords))
            }
            let encoded = model.encodeImages(images)
            #expect(encoded.map(\.regionCount) == images.map(\.regionCount))
            #expect(model.encodeImage(images[5]).keywordCount == images[5].keywords.count)
            for query in ["snooki baby bur", "red car", ""] {
                let q = model.encodeQuery(query)
                let direct = model.score(query: q, images: images)
                let fast = model.score(query: q, encodedImages: encoded)
                #expect(direct.count == fast.count)
                for (a, b) in zip(direct, fast) {
                    #expect(a.index == b.index)
                    #expect(a.score.bitPattern == b.score.bitPattern)
                    #expect(a.visualWeight.bitPattern == b.visualWeight.bitPattern)
                    #expect(a.languageWeight.bitPattern == b.languageWeight.bitPattern)
                }
            }
        }
    }

    @Test func fineTuningTheModalityAttentionKeepsImageEncoders() {
        let c = smallConfiguration()
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 1))
        var tuned = model
        tuned.weights.withTensor(.modalityVisualBias) { $0[0] += 0.5 }
        #expect(model.sharesImageEncoders(with: tuned))
        var retrained = model
        retrained.weights.withTensor(.keywordBias) { $0[0] += 0.5 }
        #expect(!model.sharesImageEncoders(with: retrained))
        #expect(!model.sharesImageEncoders(with: AMCModel(weights: AMCWeights(configuration: c, seed: 2))))
    }
}
