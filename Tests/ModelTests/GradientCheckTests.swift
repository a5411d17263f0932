import Model
import Testing

@Suite struct GradientCheckTests {
    /// Central differences in Float (ε = 1e-3) against the analytic gradient, for every tensor, in every mode.
    @Test(arguments: ModalityMode.allCases, [0, 1, 2])
    func analyticGradientMatchesFiniteDifferences(mode: ModalityMode, caseIndex: Int) {
        // margin 2 keeps every hinge term active (|s| ≤ 1), so the loss is smooth around the test point.
        let c = smallConfiguration(margin: 2)
        var rng = SplitMix64(seed: 0xA11CE + UInt64(caseIndex))
        let weights = AMCWeights(configuration: c, seed: 42 + UInt64(caseIndex))
        let query = LetterTrigramHasher.encode("snooki baby bump", buckets: c.hashBuckets)
        // Case 2 exercises an image without keywords (β_v = 1) among the negatives.
        let positive = makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki", "baby", "beach"])
        let negatives = [
            makeImage(&rng, configuration: c, regionCount: 4, keywords: ["red car", "bump", "road"]),
            makeImage(
                &rng,
                configuration: c,
                regionCount: 4,
                keywords: caseIndex == 2 ? [] : ["kitten", "snow", "baby"]
            ),
        ]
        let model = AMCModel(weights: weights, mode: mode)
        let analytic = model.lossAndGradients(query: query, positive: positive, negatives: negatives)
        #expect(analytic.loss > 0)

        let keywordColumns = (positive.keywords + negatives.flatMap(\.keywords)).flatMap(\.indices).map(Int.init)
        for tensor in AMCTensor.allCases {
            let shape = tensor.shape(c)
            var entries: [Int] = []
            switch tensor {
            case .queryWeight, .keywordWeight:
                let columns = tensor == .queryWeight ? query.indices.map(Int.init) : keywordColumns
                for k in 0..<6 {
                    let row = Int(rng.next() % UInt64(shape.rows))
                    entries.append(row * shape.columns + columns[(k * 7) % columns.count])
                }
            default:
                let count = shape.rows * shape.columns
                entries = [0, count - 1] + (0..<4).map { _ in Int(rng.next() % UInt64(count)) }
            }
            var worst: Float = 0
            var magnitude: Float = 0
            for entry in entries {
                let numeric = numericGradient(weights, mode, tensor, entry, query, positive, negatives)
                let exact = analytic.gradients[tensor][entry]
                magnitude += abs(exact)
                let error = abs(exact - numeric) / (abs(exact) + abs(numeric) + 1e-2)
                worst = max(worst, error)
                #expect(
                    abs(exact - numeric) <= 1e-2 * max(abs(exact), abs(numeric)) + 2e-3,
                    "\(tensor.rawValue)[\(entry)]: analytic \(exact), numeric \(numeric)"
                )
            }
            if Self.isUsed(tensor, by: mode) {
                #expect(magnitude > 0, "\(tensor.rawValue): sampled gradient entries are all zero")
            } else {
                // The branch is not computed in this mode: no gradient at all (in particular none reaches the MTN).
                #expect(analytic.gradients[tensor].allSatisfy { $0 == 0 }, "\(tensor.rawValue) has a gradient")
            }
            print("gradient check \(mode) case \(caseIndex) \(tensor.rawValue): worst relative error \(worst)")
        }
    }

    @Test func gradientIsZeroWhenEveryHingeIsInactive() {
        let c = smallConfiguration(margin: -3)
        var rng = SplitMix64(seed: 7)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 7))
        let query = LetterTrigramHasher.encode("snooki", buckets: c.hashBuckets)
        let positive = makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki"])
        let negative = makeImage(&rng, configuration: c, regionCount: 4, keywords: ["car"])
        let result = model.lossAndGradients(query: query, positive: positive, negatives: [negative])
        #expect(result.loss == 0)
        #expect(result.gradients == AMCWeights(zerosFor: c))
    }

    /// Whether a tensor takes part in the score in a mode.
    static func isUsed(_ tensor: AMCTensor, by mode: ModalityMode) -> Bool {
        let query: Set<AMCTensor> = [.queryWeight, .queryBias]
        switch mode {
        case .attention:
            return true
        case .imageOnly:
            let visual: Set<AMCTensor> = [
                .regionWeight, .regionBias, .visualAttentionRegion, .visualAttentionQuery, .visualAttentionScore,
            ]
            return query.union(visual).contains(tensor)
        case .keywordOnly:
            let keyword: Set<AMCTensor> = [
                .keywordWeight, .keywordBias, .keywordAttentionKeyword, .keywordAttentionQuery, .keywordAttentionScore,
            ]
            return query.union(keyword).contains(tensor)
        }
    }

    private func numericGradient(
        _ weights: AMCWeights,
        _ mode: ModalityMode,
        _ tensor: AMCTensor,
        _ entry: Int,
        _ query: SparseVector,
        _ positive: ImageFeatures,
        _ negatives: [ImageFeatures]
    ) -> Float {
        let epsilon: Float = 1e-3
        var plus = weights
        plus.withTensor(tensor) { $0[entry] += epsilon }
        var minus = weights
        minus.withTensor(tensor) { $0[entry] -= epsilon }
        let lossPlus = AMCModel(weights: plus, mode: mode).loss(query: query, positive: positive, negatives: negatives)
        let lossMinus = AMCModel(weights: minus, mode: mode).loss(
            query: query,
            positive: positive,
            negatives: negatives
        )
        return (lossPlus - lossMinus) / (2 * epsilon)
    }
}
