// MARK: - Loss and hand-written backward pass

extension AMSModel {
    /// The ranking hinge loss of one example (forward only).
    public func loss(for example: TrainingExample) -> Float {
        run(example, scope: nil, auxiliaryWeight: 0).loss
    }

    /// The hinge loss and its analytic gradient (hand-written backward pass; a hinge term exactly at zero gives no
    /// gradient). With `.all`: dense `b_q`, `b_k`, `W_r`, `b_r`, `W_g`, `b_g`, `W_m`, `b_m`, `scale_gate`,
    /// `scale_logits`, `t` and row-sparse `E_q`, `E_k` (the rows of the trigram buckets in the example); with
    /// `.onlinePart`: `scale_gate`, `scale_logits` and `t` only (nothing is propagated into the fragments or the
    /// words).
    public func lossAndGradients(for example: TrainingExample, scope: ParameterScope) -> ExampleGradients {
        run(example, scope: scope, auxiliaryWeight: 0)
    }

    /// The hinge loss and the gradient of `L + w Σ_s L_s`, the hinge plus the auxiliary per-scale hinges
    /// (``scaleLosses(for:)``) at weight `w`: each scale's own score `S_s` is trained to rank the example by itself,
    /// so that every scale stays a usable ranker and the scale gate can re-weight them online. The auxiliary terms
    /// reach `t_s` and the encoders, never the scale gate. The returned loss is `L` alone; `w = 0` is
    /// ``lossAndGradients(for:scope:)``.
    public func lossAndGradients(
        for example: TrainingExample,
        scope: ParameterScope,
        auxiliaryWeight: Float
    ) -> ExampleGradients {
        run(example, scope: scope, auxiliaryWeight: auxiliaryWeight)
    }

    /// The auxiliary per-scale hinge losses of one example, in ``Scale`` order: for each scale
    /// `L_s = Σ_t max(0, margin − S_s(q, pos) + S_s(q, neg_t))` over the negatives that have the scale, as the
    /// positive does (0 when the positive lacks it, or for an empty query).
    public func scaleLosses(for example: TrainingExample) -> [Float] {
        let losses = Self.scaleHinges(forward(example).slots, margin: margin).losses
        return Scale.allCases.map { losses[$0.rawValue] }
    }

    /// One image's forward pass in training: its encodings, each present scale's matching records, `S_s`, `b̃`
    /// and `S`.
    private struct Slot {
        var encoding: ImageEncoding
        var scratches: [NegativeAwareScratch?]
        var scales: SIMD4<Float>
        var weights: SIMD4<Float>
        var score: Float
    }

    /// One example's forward pass: the query's words and one ``Slot`` per image (the positive first).
    private struct Forward {
        var words: EncodedWords
        var slots: [Slot]
    }

    /// The forward pass of one example.
    private func forward(_ example: TrainingExample) -> Forward {
        let d = embeddingDimension
        let words = encodeWords(example.queryWords)
        let q = words.count
        let logits = scaleLogits(words)
        let matching = matching
        let thresholds = self[.thresholds]
        var slots: [Slot] = []
        for image in [example.positive] + example.negatives {
            let encoding = encode(image)
            var scratches = [NegativeAwareScratch?](repeating: nil, count: Scale.allCases.count)
            var scales = SIMD4<Float>()
            for scale in Scale.allCases where q > 0 {
                let n = encoding.count(scale, d: d)
                guard n > 0 else { continue }
                let scratch = NegativeAwareScratch(words: q, fragments: n, dimension: d)
                scales[scale.rawValue] = encoding.fragments[scale.rawValue].withUnsafeBufferPointer { f in
                    words.words.withUnsafeBufferPointer { e in
                        words.norms.withUnsafeBufferPointer { norms in
                            matching.forward(
                                fragments: MatrixView(f.baseAddress!, rows: n, columns: d),
                                words: MatrixView(e.baseAddress!, rows: q, columns: d),
                                wordNorms: norms.baseAddress!,
                                threshold: thresholds[scale.rawValue],
                                scratch: scratch
                            )
                        }
                    }
                }
                scratches[scale.rawValue] = scratch
            }
            let weights = scaleWeights(logits, regionCount: image.regionCount, keywordCount: image.keywords.count)
            let score = Self.combine(weights, scales)
            slots.append(Slot(encoding: encoding, scratches: scratches, scales: scales, weights: weights, score: score))
        }
        return Forward(words: words, slots: slots)
    }

    /// The per-scale hinges `L_s = Σ_t max(0, margin − S_s(pos) + S_s(neg_t))` over the negatives that have scale
    /// `s` as the positive does, and `∂L_s/∂S_s` per slot (`gradients[slot][s]`).
    private static func scaleHinges(
        _ slots: [Slot],
        margin: Float
    ) -> (losses: SIMD4<Float>, gradients: [SIMD4<Float>]) {
        var losses = SIMD4<Float>()
        var gradients = [SIMD4<Float>](repeating: SIMD4(), count: slots.count)
        for scale in Scale.allCases where slots.first?.scratches[scale.rawValue] != nil {
            let s = scale.rawValue
            for t in slots.indices.dropFirst() where slots[t].scratches[s] != nil {
                let term = margin - slots[0].scales[s] + slots[t].scales[s]
                if term > 0 {
                    losses[s] += term
                    gradients[0][s] -= 1
                    gradients[t][s] += 1
                }
            }
        }
        return (losses, gradients)
    }

    /// The forward pass of one example and, unless `scope` is nil, the backward pass of `L + w Σ_s L_s` (`w` the
    /// auxiliary weight); the returned loss is `L`.
    private func run(_ example: TrainingExample, scope: ParameterScope?, auxiliaryWeight: Float) -> ExampleGradients {
        let (d, dim) = (embeddingDimension, regionDimension)
        let images = [example.positive] + example.negatives
        let pass = forward(example)
        let (words, slots) = (pass.words, pass.slots)
        let q = words.count
        let matching = matching
        let thresholds = self[.thresholds]

        // L = Σ_t max(0, margin − s_0 + s_t); ∂L/∂s per slot.
        var loss: Float = 0
        var scoreGradients = [Float](repeating: 0, count: images.count)
        for t in 1..<max(images.count, 1) {
            let term = margin - slots[0].score + slots[t].score
            if term > 0 {
                loss += term
                scoreGradients[0] -= 1
                scoreGradients[t] += 1
            }
        }
        guard let scope else { return ExampleGradients(loss: loss, gradients: ParameterGradients()) }
        // The auxiliary hinges' ∂/∂S_s per slot, already scaled by w (none without a weight).
        let auxiliaryGradients =
            auxiliaryWeight == 0
            ? [] : Self.scaleHinges(slots, margin: margin).gradients.map { auxiliaryWeight * $0 }
        let hasGradient = loss > 0 || auxiliaryGradients.contains { $0 != SIMD4() }

        let full = scope == .all
        var dLogits = [Float](repeating: 0, count: Scale.allCases.count)
        var dThresholds = [Float](repeating: 0, count: Scale.allCases.count)
        var dWords = [Float](repeating: 0, count: full ? q * d : 0)
        var dense: [Tensor: [Float]] = [:]
        for tensor in [Tensor.regionWeight, .gridWeight, .globalWeight] where full {
            dense[tensor] = [Float](repeating: 0, count: d * dim)
        }
        for tensor in [Tensor.queryBias, .keywordBias, .regionBias, .gridBias, .globalBias] where full {
            dense[tensor] = [Float](repeating: 0, count: d)
        }
        var dKeywordTable = SparseRows(columns: d)
        var dSimilarities = [Float](repeating: 0, count: 1)
        for (slot, ds) in scoreGradients.enumerated() {
            let auxiliary = auxiliaryGradients.isEmpty ? SIMD4() : auxiliaryGradients[slot]
            guard ds != 0 || auxiliary != SIMD4() else { continue }
            let forward = slots[slot]
            let image = images[slot]
            for scale in Scale.allCases {
                guard let scratch = forward.scratches[scale.rawValue] else { continue }
                let s = scale.rawValue
                let n = forward.encoding.count(scale, d: d)
                // S = Σ_s b̃_s S_s with b̃ the softmax over the present scales: ∂S/∂z_s = b̃_s (S_s − S).
                dLogits[s] += ds * forward.weights[s] * (forward.scales[s] - forward.score)
                // ∂/∂S_s of L (through the mix) and of w L_s (directly).
                var dS = ds * forward.weights[s]
                if auxiliary[s] != 0 { dS += auxiliary[s] }
                guard dS != 0 else { continue }
                let fragments = forward.encoding.fragments[s]
                var dFragments = [Float](repeating: 0, count: full ? n * d : 0)
                if full && dSimilarities.count < n { dSimilarities = [Float](repeating: 0, count: n) }
                dThresholds[s] += fragments.withUnsafeBufferPointer { f in
                    words.words.withUnsafeBufferPointer { e in
                        words.norms.withUnsafeBufferPointer { norms in
                            dFragments.withUnsafeMutableBufferPointer { df in
                                dWords.withUnsafeMutableBufferPointer { de in
                                    dSimilarities.withUnsafeMutableBufferPointer { dsim in
                                        matching.backward(
                                            fragments: MatrixView(f.baseAddress!, rows: n, columns: d),
                                            words: MatrixView(e.baseAddress!, rows: q, columns: d),
                                            wordNorms: norms.baseAddress!,
                                            threshold: thresholds[s],
                                            dS: dS,
                                            scratch: scratch,
                                            inputs: full
                                                ? NegativeAwareMatching.InputGradients(
                                                    fragments: MatrixView(df.baseAddress!, rows: n, columns: d),
                                                    words: MatrixView(de.baseAddress!, rows: q, columns: d),
                                                    similarities: dsim.baseAddress!
                                                ) : nil
                                        )
                                    }
                                }
                            }
                        }
                    }
                }
                guard full else { continue }
                // Through y = x / |x| to the pre-normalisation x of every fragment.
                let norms = forward.encoding.norms[s]
                for i in 0..<n { Self.normalisationBackward(&dFragments, fragments, i * d, d, norms[i]) }
                switch scale {
                case .regions, .grid2x2, .global:
                    let (inputs, weight, bias): ([Float], Tensor, Tensor) =
                        switch scale {
                        case .regions: (image.regions, .regionWeight, .regionBias)
                        case .grid2x2: (forward.encoding.gridInputs, .gridWeight, .gridBias)
                        default: (forward.encoding.globalInput, .globalWeight, .globalBias)
                        }
                    // x_i = W u_i + b: ∂W += ∂x_i ⊗ u_i, ∂b += ∂x_i.
                    var dWeight = dense.removeValue(forKey: weight)!
                    var dBias = dense.removeValue(forKey: bias)!
                    for i in 0..<n {
                        for j in 0..<d {
                            let g = dFragments[i * d + j]
                            dBias[j] += g
                            for c in 0..<dim { dWeight[j * dim + c] += g * inputs[i * dim + c] }
                        }
                    }
                    dense[weight] = dWeight
                    dense[bias] = dBias
                case .keywords:
                    // h_l = tanh(E_kᵀ x_l + b_k).
                    var dBias = dense.removeValue(forKey: .keywordBias)!
                    var da = [Float](repeating: 0, count: d)
                    for (l, bag) in image.keywords.enumerated() {
                        for j in 0..<d {
                            let h = forward.encoding.keywordHidden[l * d + j]
                            da[j] = dFragments[l * d + j] * (1 - h * h)
                            dBias[j] += da[j]
                        }
                        da.withUnsafeBufferPointer { da in
                            for (index, value) in zip(bag.indices, bag.counts) {
                                dKeywordTable.add(row: Int(index), scale: value, da)
                            }
                        }
                    }
                    dense[.keywordBias] = dBias
                }
            }
        }
        // z = Z ē + c: ∂Z = ∂z ⊗ ē, ∂c = ∂z, ∂ē = Zᵀ ∂z (shared by the words: ∂e_j += ∂ē / Q).
        let mean = meanWord(words)
        let gate = self[.scaleGate]
        var dGate = [Float](repeating: 0, count: Scale.allCases.count * d)
        var dMean = [Float](repeating: 0, count: d)
        for s in 0..<Scale.allCases.count {
            for c in 0..<d {
                dGate[s * d + c] = dLogits[s] * mean[c]
                dMean[c] += dLogits[s] * gate[s * d + c]
            }
        }
        var gradients = ParameterGradients(dense: [
            Tensor.scaleGate.rawValue: dGate, Tensor.scaleLogits.rawValue: dLogits,
            Tensor.thresholds.rawValue: dThresholds,
        ])
        guard full else { return ExampleGradients(loss: loss, gradients: gradients) }
        for j in 0..<q { for c in 0..<d { dWords[j * d + c] += dMean[c] / Float(q) } }

        // e_j = h_j / |h_j|, h_j = tanh(E_qᵀ x_j + b_q).
        var dQueryTable = SparseRows(columns: d)
        var dQueryBias = dense.removeValue(forKey: .queryBias)!
        if hasGradient {
            var da = [Float](repeating: 0, count: d)
            for (j, bag) in example.queryWords.enumerated() {
                Self.normalisationBackward(&dWords, words.words, j * d, d, words.hiddenNorms[j])
                for c in 0..<d {
                    let h = words.hidden[j * d + c]
                    da[c] = dWords[j * d + c] * (1 - h * h)
                    dQueryBias[c] += da[c]
                }
                da.withUnsafeBufferPointer { da in
                    for (index, value) in zip(bag.indices, bag.counts) {
                        dQueryTable.add(row: Int(index), scale: value, da)
                    }
                }
            }
        }
        gradients.dense[Tensor.queryBias.rawValue] = dQueryBias
        for (tensor, values) in dense { gradients.dense[tensor.rawValue] = values }
        gradients.sparse[Tensor.queryEmbedding.rawValue] = dQueryTable
        gradients.sparse[Tensor.keywordEmbedding.rawValue] = dKeywordTable
        return ExampleGradients(loss: loss, gradients: gradients)
    }

    /// `∂x = (∂y − y (y·∂y)) / |x|` in place for `y = x / |x|` (entries `start..<start+n` of `dy` and `y`).
    private static func normalisationBackward(
        _ dy: inout [Float],
        _ y: [Float],
        _ start: Int,
        _ n: Int,
        _ norm: Float
    ) {
        var projection: Float = 0
        for c in 0..<n { projection += y[start + c] * dy[start + c] }
        for c in 0..<n { dy[start + c] = (dy[start + c] - y[start + c] * projection) / norm }
    }
}
