import Model
import Testing

@Suite struct AMCModelTests {
    @Test func initialisationIsSeededAndExact() {
        let c = smallConfiguration()
        let a = AMCWeights(configuration: c, seed: 1)
        #expect(a == AMCWeights(configuration: c, seed: 1))
        #expect(a != AMCWeights(configuration: c, seed: 2))
        #expect(a.bq.allSatisfy { $0 == 0 })
        // W_q limit = sqrt(6 / (8 + 64)); first SplitMix64(1) output is 0x910a2dec89025cc1.
        let limit = (Float(6) / 72).squareRoot()
        let unit = Float(UInt64(0x910a_2dec_8902_5cc1) >> 40) / Float(1 << 24)
        #expect(a.wq[0] == (unit * 2 - 1) * limit)
        for tensor in AMCTensor.allCases where !tensor.isBias {
            let s = tensor.shape(c)
            let bound = (6 / Float(s.rows + s.columns)).squareRoot()
            #expect(a[tensor].allSatisfy { abs($0) <= bound }, "\(tensor.rawValue)")
        }
    }

    @Test func scoreIsExactForSeed() {
        let c = smallConfiguration()
        var rng = SplitMix64(seed: 99)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 5))
        let image = makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki", "baby"])
        let scored = model.score(query: model.encodeQuery("snooki baby bump"), image: image)
        // Pinned values: 0.53837323 and 0.35237172 (bit patterns, so any change to the math is noticed; small
        // dimensions only exercise the scalar tails of the kernels, see `pinnedAtDefaultDimensions` for the rest).
        #expect(scored.score.bitPattern == 0x3f09_d2d4)
        #expect(scored.visualWeight.bitPattern == 0x3eb4_6a11)
        #expect(scored.visualWeight + scored.languageWeight == 1)
    }

    /// Default dimensions run every SIMD block of the kernels; the bit patterns pin the summation order, the tanh
    /// and the lazy Adam step (update deliberately when the math changes, and say so in `Docs/model.md`).
    @Test func pinnedAtDefaultDimensions() {
        let c = ModelConfiguration()
        var rng = SplitMix64(seed: 2017)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 5))
        let words = ["snooki", "baby", "bump", "beach", "red car", "kitten"]
        func image() -> ImageFeatures {
            makeImage(
                &rng,
                configuration: c,
                regionCount: 16,
                keywords: (0..<5).map { _ in words[Int(rng.next() % 6)] }
            )
        }
        let images = (0..<5).map { _ in image() }
        let scored = model.score(query: "snooki baby bump", images: images)
        // 0.07934237 and 0.62546456 (the attentions add the query term after the image projection, so that the
        // projection can be precomputed per version: Docs/model.md).
        #expect(scored[0].score.bitPattern == 0x3da2_7e41)
        #expect(scored[0].visualWeight.bitPattern == 0x3f20_1e72)
        let examples = (0..<4).map { i in
            TrainingExample(
                query: LetterTrigramHasher.encode(words[i] + " " + words[i + 1], buckets: c.hashBuckets),
                positive: images[i],
                negatives: [images[(i + 1) % 5], images[(i + 2) % 5]]
            )
        }
        var trainer = ModelTrainer(model: model, scope: .all)
        _ = trainer.step(examples[...])
        let loss = trainer.step(examples[...])
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for tensor in AMCTensor.allCases {
            for value in trainer.model.weights[tensor] { hash = (hash ^ UInt64(value.bitPattern)) &* 0x100_0000_01b3 }
        }
        // 0.31452048, and an FNV-1a hash of every weight's bit pattern after the two steps.
        #expect(loss.bitPattern == 0x3ea1_08d4)
        #expect(hash == 0x65cc_e9a7_61f1_d229)
    }

    @Test func modalityWeightsSumToOne() {
        let c = smallConfiguration()
        var rng = SplitMix64(seed: 3)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 3))
        let images = (0..<8).map { i in
            makeImage(
                &rng,
                configuration: c,
                regionCount: 1 + i % 4,
                keywords: Array(["a b", "cat", "dog"].prefix(i % 4))
            )
        }
        let scored = model.score(query: "cat on a sofa", images: images)
        #expect(scored.map(\.index) == Array(0..<8))
        for s in scored {
            #expect(abs(s.visualWeight + s.languageWeight - 1) <= 1e-6)
            #expect(s.visualWeight >= 0 && s.languageWeight >= 0)
            #expect(abs(s.score) <= 1 + 1e-5)
        }
        // Images without keywords use the visual modality only.
        #expect(scored[0].visualWeight == 1 && scored[0].languageWeight == 0)
        #expect(scored[4].visualWeight == 1)
    }

    @Test func keywordOnlyAndEmptyImagesAreWellDefined() {
        let c = smallConfiguration()
        var rng = SplitMix64(seed: 4)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 4))
        let query = model.encodeQuery("snooki")
        let keywordOnly = makeImage(&rng, configuration: c, regionCount: 0, keywords: ["snooki"])
        let empty = ImageFeatures(regions: [], regionCount: 0, keywords: [])
        let scored = model.score(query: query, images: [keywordOnly, empty])
        #expect(scored[0].languageWeight == 1 && scored[0].visualWeight == 0)
        #expect(scored[1].score == 0 && scored[1].visualWeight == 1)
        #expect(model.score(query: model.encodeQuery(""), image: keywordOnly).score.isFinite)
    }

    @Test func batchedScoringMatchesSingleScoring() {
        let c = smallConfiguration()
        var rng = SplitMix64(seed: 8)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 8))
        let images = (0..<5).map { _ in makeImage(&rng, configuration: c, regionCount: 4, keywords: ["x", "yz"]) }
        let query = model.encodeQuery("xyz")
        let batch = model.score(query: query, images: images)
        for (i, image) in images.enumerated() {
            let single = model.score(query: query, image: image)
            #expect(batch[i].score == single.score && batch[i].visualWeight == single.visualWeight)
        }
    }
}
