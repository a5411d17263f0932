/// The hinge loss of one training example and its gradient with respect to every parameter.
public struct TrainingLoss: Sendable {
    /// `L = Σ_t max(0, margin − s(q, pos) + s(q, neg_t))`.
    public var loss: Float
    /// `∂L/∂θ` for every tensor, same shapes as the weights.
    public var gradients: AMCWeights
    /// `s(q, pos)`.
    public var positiveScore: Float
    /// `s(q, neg_t)` for each negative.
    public var negativeScores: [Float]
}

extension AMCModel {
    // MARK: - Loss

    /// The ranking hinge loss for one query, one clicked positive and T negatives (forward only).
    /// - Parameters:
    ///   - query: The query trigram bag.
    ///   - positive: The clicked image.
    ///   - negatives: The sampled negatives.
    /// - Returns: `Σ_t max(0, margin − s(q, pos) + s(q, neg_t))`.
    public func loss(query: SparseVector, positive: ImageFeatures, negatives: [ImageFeatures]) -> Float {
        var scratch = scratch(for: positive, negatives, gradients: false)
        return scratch.withEngine(packed, mode: mode, margin: configuration.margin) { engine, _ in
            var none: GradientSink? = nil
            return engine.example(query: query, positive: positive, negatives: negatives, full: false, sink: &none)
        }
    }

    /// The ranking hinge loss and its analytic gradient (hand-written backward pass).
    ///
    /// A hinge term exactly at zero contributes no gradient (the subgradient 0 is used at the kink). This is the
    /// same backward pass ``ModelTrainer`` runs (with `scope: .all`), returned as a dense ``AMCWeights``.
    /// - Parameters:
    ///   - query: The query trigram bag.
    ///   - positive: The clicked image.
    ///   - negatives: The sampled negatives.
    /// - Returns: Loss, gradients and the scores.
    public func lossAndGradients(
        query: SparseVector,
        positive: ImageFeatures,
        negatives: [ImageFeatures]
    ) -> TrainingLoss {
        let c = configuration
        var scratch = scratch(for: positive, negatives, gradients: true)
        var gradients = AMCWeights(zerosFor: c)
        var scores: [Float] = []
        let loss = scratch.withEngine(packed, mode: mode, margin: c.margin) { engine, sink in
            var sink = sink
            let loss = engine.example(query: query, positive: positive, negatives: negatives, full: true, sink: &sink)
            for slot in 0...negatives.count { scores.append(engine.infos[slot].score) }
            gradients.copy(from: sink!, layout: engine.gl)
            return loss
        }
        return TrainingLoss(
            loss: loss,
            gradients: gradients,
            positiveScore: scores[0],
            negativeScores: Array(scores.dropFirst())
        )
    }

    /// A scratch buffer big enough for one example.
    func scratch(for positive: ImageFeatures, _ negatives: [ImageFeatures], gradients: Bool) -> EngineScratch {
        var regions = positive.regionCount
        var keywords = positive.keywords.count
        for image in negatives {
            regions = max(regions, image.regionCount)
            keywords = max(keywords, image.keywords.count)
        }
        let c = configuration
        return EngineScratch(
            c,
            gradientCount: gradients ? GradientLayout(c).count : 0,
            slots: 1 + negatives.count,
            regions: regions,
            keywords: keywords
        )
    }
}

extension AMCWeights {
    /// Copies a gradient buffer (``GradientLayout``, all tensors) into these row-major tensors; only the `W_q` and
    /// `W_k` columns listed in `sink` are read (the rest must be zero).
    mutating func copy(from sink: GradientSink, layout gl: GradientLayout) {
        let c = configuration
        let (d, buckets) = (c.embeddingDimension, c.hashBuckets)
        for tensor in AMCTensor.allCases {
            let source = sink.g + gl.offset(tensor)
            withTensor(tensor) { values in
                values.withUnsafeMutableBufferPointer { out in
                    switch tensor {
                    case .queryWeight, .keywordWeight:
                        let isQuery = tensor == .queryWeight
                        let columns = isQuery ? sink.queryColumnList : sink.keywordColumnList
                        for i in 0..<(isQuery ? sink.queryColumns : sink.keywordColumns) {
                            let column = Int(columns[i])
                            for row in 0..<d { out[row * buckets + column] = source[column * d + row] }
                        }
                    default:
                        out.baseAddress!.update(from: source, count: out.count)
                    }
                }
            }
        }
    }
}
