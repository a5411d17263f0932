import Model
import Testing

@Suite struct TrainingTests {
    struct Example {
        var query: SparseVector
        var positive: ImageFeatures
        var negatives: [ImageFeatures]
    }

    /// Three queries, each with a distinctive positive (its own keyword, its own region pattern) and two negatives.
    static func problem(_ c: ModelConfiguration) -> [Example] {
        var rng = SplitMix64(seed: 2017)
        let topics = ["snooki baby", "red car", "snow kitten"]
        var prototypes: [[Float]] = []
        for _ in topics {
            prototypes.append((0..<c.regionDimension).map { _ in rng.nextSymmetric(1) })
        }
        func image(_ topic: Int) -> ImageFeatures {
            var regions: [Float] = []
            for _ in 0..<4 {
                regions += prototypes[topic].map { $0 + rng.nextSymmetric(0.1) }
            }
            return ImageFeatures(
                regions: regions,
                regionCount: 4,
                keywords: [LetterTrigramHasher.encode(topics[topic], buckets: c.hashBuckets)]
            )
        }
        return topics.indices.map { t in
            Example(
                query: LetterTrigramHasher.encode(topics[t], buckets: c.hashBuckets),
                positive: image(t),
                negatives: [image((t + 1) % 3), image((t + 2) % 3)]
            )
        }
    }

    static func totalLoss(_ weights: AMCWeights, _ examples: [Example]) -> Float {
        let model = AMCModel(weights: weights)
        return examples.reduce(0) { $0 + model.loss(query: $1.query, positive: $1.positive, negatives: $1.negatives) }
    }

    static func train(
        seed: UInt64,
        steps: Int,
        scope: AdamOptimizer.Scope,
        start: AMCWeights? = nil
    ) -> AMCWeights {
        let c = smallConfiguration()
        let examples = problem(c)
        var weights = start ?? AMCWeights(configuration: c, seed: seed)
        var adam = AdamOptimizer(configuration: c, learningRate: 0.01)
        for step in 0..<steps {
            let e = examples[step % examples.count]
            let result = AMCModel(weights: weights).lossAndGradients(
                query: e.query,
                positive: e.positive,
                negatives: e.negatives
            )
            adam.update(&weights, gradients: result.gradients, scope: scope)
        }
        #expect(adam.step == steps)
        return weights
    }

    @Test func lossFallsOverTwoHundredAdamSteps() {
        let c = smallConfiguration()
        let examples = Self.problem(c)
        let initial = Self.totalLoss(AMCWeights(configuration: c, seed: 11), examples)
        let trained = Self.train(seed: 11, steps: 200, scope: .all)
        let final = Self.totalLoss(trained, examples)
        print("training loss: \(initial) -> \(final)")
        #expect(initial > 0.5)
        #expect(final < initial * 0.25)
    }

    @Test func trainingIsDeterministic() {
        let a = Self.train(seed: 12, steps: 50, scope: .all)
        let b = Self.train(seed: 12, steps: 50, scope: .all)
        for tensor in AMCTensor.allCases {
            #expect(a[tensor].map(\.bitPattern) == b[tensor].map(\.bitPattern), "\(tensor.rawValue)")
        }
    }

    @Test func modalityOnlyUpdatesLeaveOtherTensorsBitIdentical() {
        let c = smallConfiguration()
        let start = AMCWeights(configuration: c, seed: 13)
        let trained = Self.train(seed: 13, steps: 30, scope: .modalityAttentionOnly, start: start)
        var changed = 0
        for tensor in AMCTensor.allCases {
            let same = trained[tensor].map(\.bitPattern) == start[tensor].map(\.bitPattern)
            if tensor.isModalityAttention {
                if !same { changed += 1 }
            } else {
                #expect(same, "\(tensor.rawValue) changed under a modality-only update")
            }
        }
        #expect(changed == 6)
        #expect(
            AMCTensor.allCases.filter(\.isModalityAttention).map(\.rawValue) == [
                "M_v", "c_v", "m_v", "M_k", "c_k", "m_k",
            ]
        )
    }
}
