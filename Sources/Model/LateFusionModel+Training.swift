// MARK: - Loss and hand-written backward pass

extension LateFusionModel {
    /// The ranking hinge loss of one example (forward only).
    public func loss(for example: TrainingExample) -> Float {
        run(example, scope: nil).loss
    }

    /// The hinge loss and its analytic gradient (hand-written backward pass; a hinge term exactly at zero gives no
    /// gradient). With `.all`: dense `b_q`, `b_k`, `W_v`, `b_v`, `G`, `g` and row-sparse `E_q`, `E_k` (the rows of
    /// the trigram buckets in the example); with `.onlinePart`: `G` and `g` only (the backward pass stops at the
    /// gate).
    public func lossAndGradients(for example: TrainingExample, scope: ParameterScope) -> ExampleGradients {
        run(example, scope: scope)
    }

    /// The forward pass of one example and, unless `scope` is nil, its backward pass.
    private func run(_ example: TrainingExample, scope: ParameterScope?) -> ExampleGradients {
        let d = embeddingDimension
        let q = embed(example.query, table: self[.queryEmbedding], bias: self[.queryBias])
        let qNorm = Self.norm(q)
        let beta = gate(q)
        let images = [example.positive] + example.negatives
        let encodings = images.map { encode($0) }
        var fused: [(u: [Float], norm: Float, betaV: Float, betaK: Float)] = []
        var scores: [Float] = []
        for (image, encoding) in zip(images, encodings) {
            let f = fuse(
                visual: encoding.visual[...],
                keyword: encoding.keyword[...],
                hasRegions: image.regionCount > 0,
                hasKeywords: !image.keywords.isEmpty,
                beta: beta
            )
            fused.append(f)
            scores.append(Self.cosine(q, qNorm, f.u, f.norm))
        }

        // L = Σ_t max(0, margin − s_0 + s_t); ∂L/∂s per slot.
        var loss: Float = 0
        var scoreGradients = [Float](repeating: 0, count: images.count)
        for t in 1..<max(images.count, 1) {
            let term = margin - scores[0] + scores[t]
            if term > 0 {
                loss += term
                scoreGradients[0] -= 1
                scoreGradients[t] += 1
            }
        }
        guard let scope else { return ExampleGradients(loss: loss, gradients: ParameterGradients()) }

        let full = scope == .all
        let dim = regionDimension
        var dq = [Float](repeating: 0, count: d)
        var dBeta: (visual: Float, keyword: Float) = (0, 0)
        var dRegionWeight = [Float](repeating: 0, count: full ? d * dim : 0)
        var dRegionBias = [Float](repeating: 0, count: d)
        var dKeywordBias = [Float](repeating: 0, count: d)
        var dKeywordTable = SparseRows(columns: d)
        for (slot, ds) in scoreGradients.enumerated() where ds != 0 {
            let (image, encoding, f, s) = (images[slot], encodings[slot], fused[slot], scores[slot])
            let hasRegions = image.regionCount > 0
            let hasKeywords = !image.keywords.isEmpty
            guard hasRegions || hasKeywords else { continue }  // u = 0: the score is 0 whatever the parameters
            // s = q·u / (|q| |u|): ∂s/∂u = q / (|q| |u|) − s u / |u|², ∂s/∂q = u / (|q| |u|) − s q / |q|².
            var du = [Float](repeating: 0, count: d)
            let qu = qNorm * f.norm
            for j in 0..<d {
                du[j] = ds * (q[j] / qu - s * f.u[j] / (f.norm * f.norm))
                dq[j] += ds * (f.u[j] / qu - s * q[j] / (qNorm * qNorm))
            }
            var dVisual = [Float](repeating: 0, count: d)
            var dKeyword = [Float](repeating: 0, count: d)
            if hasRegions && hasKeywords {
                for j in 0..<d {
                    dBeta.visual += du[j] * encoding.visual[j]
                    dBeta.keyword += du[j] * encoding.keyword[j]
                    dVisual[j] = f.betaV * du[j]
                    dKeyword[j] = f.betaK * du[j]
                }
            } else if hasRegions {
                dVisual = du
            } else {
                dKeyword = du
            }
            guard full else { continue }
            if hasRegions {
                // v̄ = mean_i tanh(W_v r_i + b_v).
                let r = image.regionCount
                dRegionWeight.withUnsafeMutableBufferPointer { dWeight in
                    image.regions.withUnsafeBufferPointer { features in
                        for i in 0..<r {
                            let x = features.baseAddress! + i * dim
                            for j in 0..<d {
                                let v = encoding.regions[i * d + j]
                                let da = dVisual[j] / Float(r) * (1 - v * v)
                                dRegionBias[j] += da
                                let row = dWeight.baseAddress! + j * dim
                                for c in 0..<dim { row[c] += da * x[c] }
                            }
                        }
                    }
                }
            }
            if hasKeywords {
                // k̄ = mean_l tanh(E_kᵀ x_l + b_k).
                let count = Float(image.keywords.count)
                var da = [Float](repeating: 0, count: d)
                for (l, bag) in image.keywords.enumerated() {
                    for j in 0..<d {
                        let k = encoding.keywords[l * d + j]
                        da[j] = dKeyword[j] / count * (1 - k * k)
                        dKeywordBias[j] += da[j]
                    }
                    da.withUnsafeBufferPointer { da in
                        for (index, value) in zip(bag.indices, bag.counts) {
                            dKeywordTable.add(row: Int(index), scale: value, da)
                        }
                    }
                }
            }
        }

        // [β_v, β_k] = softmax(z), z = G q + g: ∂z_m = β_m (∂β_m − Σ_n β_n ∂β_n).
        let mixed = beta.visual * dBeta.visual + beta.keyword * dBeta.keyword
        let dz = [beta.visual * (dBeta.visual - mixed), beta.keyword * (dBeta.keyword - mixed)]
        var dGate = [Float](repeating: 0, count: 2 * d)
        let gateWeight = self[.gateWeight]
        for m in 0..<2 {
            for j in 0..<d {
                dGate[m * d + j] = dz[m] * q[j]
                dq[j] += dz[m] * gateWeight[m * d + j]
            }
        }
        var gradients = ParameterGradients(dense: [Tensor.gateWeight.rawValue: dGate, Tensor.gateBias.rawValue: dz])
        guard full else { return ExampleGradients(loss: loss, gradients: gradients) }

        // q = tanh(E_qᵀ x_q + b_q).
        var dQueryTable = SparseRows(columns: d)
        var da = [Float](repeating: 0, count: d)
        for j in 0..<d { da[j] = dq[j] * (1 - q[j] * q[j]) }
        if loss > 0 {
            da.withUnsafeBufferPointer { da in
                for (index, value) in zip(example.query.indices, example.query.counts) {
                    dQueryTable.add(row: Int(index), scale: value, da)
                }
            }
        }
        gradients.dense[Tensor.queryBias.rawValue] = da
        gradients.dense[Tensor.keywordBias.rawValue] = dKeywordBias
        gradients.dense[Tensor.regionWeight.rawValue] = dRegionWeight
        gradients.dense[Tensor.regionBias.rawValue] = dRegionBias
        gradients.sparse[Tensor.queryEmbedding.rawValue] = dQueryTable
        gradients.sparse[Tensor.keywordEmbedding.rawValue] = dKeywordTable
        return ExampleGradients(loss: loss, gradients: gradients)
    }
}
