// MARK: - Loss and hand-written backward pass

extension CASCModel {
    /// The loss of one example (forward only): the ranking hinge `Σ_t max(0, margin − s_0 + s_t)` plus
    /// `w · BCE(σ(p_pos), y_q)`, the positive image's balanced label cross-entropy (``labelLoss(logits:labels:)``).
    public func loss(for example: TrainingExample) -> Float {
        run(example, scope: nil).loss
    }

    /// The loss and its analytic gradient (hand-written backward pass; a hinge term exactly at zero gives no
    /// gradient). With `.all`: every tensor, `E_q` and `E_k` row-sparse (the rows of the example's trigram buckets);
    /// with `.onlinePart`: the gate, `log_lambda` and `alpha_logit` only — the backward pass stops at the branches'
    /// temperatures and never reaches an encoder (the label loss has no online gradient).
    public func lossAndGradients(for example: TrainingExample, scope: ParameterScope) -> ExampleGradients {
        run(example, scope: scope)
    }

    /// The balanced label cross-entropy of one image's logits `p` against the label set `y`:
    /// `½ (mean_{l ∈ y} −log σ(p_l) + mean_{l ∉ y} −log(1 − σ(p_l)))` (0 for an empty `y`), each half a mean so
    /// that a query's few labels weigh as much as the `L − |y|` others.
    /// - Returns: The loss, and `∂/∂p_l` for every label when `gradient` is given.
    static func labelLoss(logits: [Float], labels: [Int32], gradient: UnsafeMutablePointer<Float>?) -> Float {
        guard !labels.isEmpty else { return 0 }
        let count = logits.count
        var isLabel = [Bool](repeating: false, count: count)
        for label in labels { isLabel[Int(label)] = true }
        let positives = Float(labels.count)
        let negatives = Float(count - labels.count)
        var positiveSum: Float = 0
        var negativeSum: Float = 0
        for l in 0..<count {
            let p = logits[l]
            if isLabel[l] {
                positiveSum += softplus(-p)
                gradient?[l] += (sigmoid(p) - 1) / (2 * positives)
            } else {
                negativeSum += softplus(p)
                gradient?[l] += sigmoid(p) / (2 * negatives)
            }
        }
        return (positiveSum / positives + (negatives > 0 ? negativeSum / negatives : 0)) / 2
    }

    /// `log(1 + e^x)`, stable for any `x`.
    static func softplus(_ x: Float) -> Float {
        max(x, 0) + (1 + (-abs(x)).expValue).logValue
    }

    /// The forward pass of one example and, unless `scope` is nil, its backward pass.
    private func run(_ example: TrainingExample, scope: ParameterScope?) -> ExampleGradients {
        let (d, h) = (embeddingDimension, gateDimension)
        let words = example.queryWords
        let q = words.count
        let labels = labels(of: words)
        let query = encodeQuery(words: words, labels: labels, bag: example.query)
        let images = [example.positive] + example.negatives
        let encodings = images.map { encode($0) }
        let scratches = images.map {
            CASCScratch(maxRegions: $0.regionCount, maxKeywords: $0.keywords.count, words: q, d: d, h: h)
        }
        let arena = FloatArena()
        let wordView = arena.matrix(q, d)
        for (i, value) in query.vector.enumerated() { wordView.base[i] = value }
        let terms = arena.vector(query.terms.count)
        for (i, value) in query.terms.enumerated() { terms[i] = value }
        let state = QueryState(
            words: wordView,
            visualTerm: VectorView(terms.base, count: h),
            keywordTerm: VectorView(terms.base + h, count: h),
            labels: UnsafeBufferPointer(start: terms.base + 2 * h, count: labels.count),
            labelNorm: query.norm
        )
        let blocks = encodings.map { encoding in
            let block = arena.vector(encoding.block.count)
            encoding.block.withUnsafeBufferPointer { block.base.update(from: $0.baseAddress!, count: $0.count) }
            return block.base
        }
        let passes = images.indices.map { slot in
            forward(
                query: state,
                block: UnsafePointer(blocks[slot]),
                regionCount: images[slot].regionCount,
                keywordCount: images[slot].keywords.count,
                scratch: scratches[slot]
            )
        }

        // L = Σ_t max(0, margin − s_0 + s_t) + w · BCE(p_0, y_q); ∂L/∂s per slot.
        var loss: Float = 0
        var scoreGradients = [Float](repeating: 0, count: images.count)
        for t in 1..<max(images.count, 1) {
            let term = margin - passes[0].score + passes[t].score
            if term > 0 {
                loss += term
                scoreGradients[0] -= 1
                scoreGradients[t] += 1
            }
        }
        let full = scope == .all
        let dPositiveLogits = full ? arena.vector(labelBuckets) : nil
        let labelLoss = Self.labelLoss(logits: encodings[0].logits, labels: labels, gradient: dPositiveLogits?.base)
        loss += labelLossWeight * labelLoss
        guard scope != nil else {
            withExtendedLifetime(arena) {}
            return ExampleGradients(loss: loss, gradients: ParameterGradients())
        }
        if let dPositiveLogits { dPositiveLogits.assign(labelLossWeight, times: dPositiveLogits) }

        let sizes = self.sizes
        func dense(_ tensor: Tensor) -> MatrixView {
            let shape = tensor.shape(sizes)
            return arena.matrix(shape.rows, shape.columns)
        }
        let gateGradients = [
            (weight: dense(.visualGateWeight), bias: arena.vector(h), score: arena.vector(h)),
            (weight: dense(.keywordGateWeight), bias: arena.vector(h), score: arena.vector(h)),
        ]
        let preSums = [arena.vector(h), arena.vector(h)]
        let pre = arena.vector(h)
        var dLogTemperatures = [Float](repeating: 0, count: 3 * Self.branchCount)
        var dAlphaLogit: Float = 0
        let dWords = arena.matrix(q, d)
        let (dRegionWeight, dRegionBias) = (dense(.regionWeight), arena.vector(d))
        let dKeywordBias = arena.vector(d)
        let (dHiddenWeight, dHiddenBias) = (dense(.labelHiddenWeight), arena.vector(d))
        let (dLabelWeight, dLabelBias) = (dense(.labelWeight), arena.vector(labelBuckets))
        var dKeywordTable = SparseRows(columns: d)
        let dProbabilities = arena.vector(labelBuckets)
        let dLogits = arena.vector(labelBuckets)
        let dVector = arena.vector(d)
        let dHidden = arena.vector(d)

        for (slot, ds) in scoreGradients.enumerated() {
            let (image, encoding, pass, scratch) = (images[slot], encodings[slot], passes[slot], scratches[slot])
            let (r, k) = (image.regionCount, image.keywords.count)
            let regions = MatrixView(blocks[slot], rows: r, columns: d)
            let keywords = MatrixView(blocks[slot] + r * d, rows: k, columns: d)
            let dRegions = full ? arena.matrix(r, d) : nil
            let dKeywords = full ? arena.matrix(k, d) : nil
            dProbabilities.zero()
            if ds != 0 && q > 0 {
                // S = α local + (1 − α) C, α = sigmoid(alpha_logit)
                dAlphaLogit += ds * (pass.local - pass.labelAgreement) * alpha * (1 - alpha)
                let dLocal = ds * alpha
                let dAgreement = ds * (1 - alpha)
                var (dVisual, dKeyword): (Float, Float) = (0, 0)
                let dInputs = [arena.vector(d), arena.vector(d)]
                let gated = pass.visual != nil && pass.keyword != nil
                if let visual = pass.visual, let keyword = pass.keyword {
                    // local = β_v S^V + β_k S^K, [β_v, β_k] = softmax(z_v, z_k)
                    let sv = (visual.textToImage + visual.imageToText) / 2
                    let sk = (keyword.textToImage + keyword.imageToText) / 2
                    let (dBetaV, dBetaK) = (dLocal * sv, dLocal * sk)
                    dVisual = dLocal * pass.betaV
                    dKeyword = dLocal * pass.betaK
                    let mixed = pass.betaV * dBetaV + pass.betaK * dBetaK
                    let dz = [pass.betaV * (dBetaV - mixed), pass.betaK * (dBetaK - mixed)]
                    gate.withGate { gate in
                        for (b, branch) in [gate.visual, gate.keyword].enumerated() {
                            branch.backward(
                                x: b == 0 ? scratch.visualInput : scratch.keywordInput,
                                hidden: b == 0 ? scratch.visualHidden : scratch.keywordHidden,
                                dz: dz[b],
                                dWeight: gateGradients[b].weight,
                                dBias: gateGradients[b].bias,
                                dScore: gateGradients[b].score,
                                pre: pre,
                                preSum: preSums[b],
                                dx: dInputs[b]
                            )
                        }
                    }
                } else if pass.visual != nil {
                    dVisual = dLocal
                } else if pass.keyword != nil {
                    dKeyword = dLocal
                }
                // Each branch: S = ½(S_t2i + S_i2t); the gate read mean_j a_j.
                let branches = [
                    (pass.visual, regions, dRegions, dVisual, scratch.visual),
                    (pass.keyword, keywords, dKeywords, dKeyword, scratch.keyword),
                ]
                for (b, branch) in branches.enumerated() where branch.0 != nil {
                    var dAttended: MatrixView?
                    if gated {
                        let rows = arena.matrix(q, d)
                        for j in 0..<q { rows[j].assign(1 / Float(q), times: dInputs[b]) }
                        dAttended = rows
                    }
                    let temperatures = self.temperatures[b]
                    let dT = CrossAttention.backward(
                        fragments: branch.1,
                        words: wordView,
                        temperatures: temperatures,
                        workspace: branch.4,
                        dScores: CrossAttention.Scores(textToImage: branch.3 / 2, imageToText: branch.3 / 2),
                        dAttended: dAttended,
                        dFragments: branch.2,
                        dWords: full ? dWords : nil
                    )
                    // λ = exp(log λ)
                    dLogTemperatures[3 * b] += dT.textToImage * temperatures.textToImage
                    dLogTemperatures[3 * b + 1] += dT.imageToText * temperatures.imageToText
                    dLogTemperatures[3 * b + 2] += dT.pooling * temperatures.pooling
                }
                if full {
                    // C = Σ_{l ∈ y} σ̂_l / sqrt|y|
                    for label in state.labels { dProbabilities[Int(label)] += dAgreement / state.labelNorm }
                }
            }
            // Only the scored slots and the positive's label loss reach the encoders.
            guard full, ds != 0 || slot == 0, let dRegions, let dKeywords else { continue }
            // σ̂ = σ / |σ|: ∂σ = (∂σ̂ − σ̂ (σ̂·∂σ̂)) / |σ|; σ = sigmoid(p): ∂p = ∂σ σ (1 − σ)
            let sigmaHat = VectorView(blocks[slot] + (r + k) * d, count: labelBuckets)
            let projection = sigmaHat.dot(dProbabilities)
            for l in 0..<labelBuckets {
                let sigma = encoding.probabilities[l]
                let dSigma = (dProbabilities[l] - sigmaHat[l] * projection) / encoding.probabilityNorm
                dLogits[l] = dSigma * sigma * (1 - sigma)
            }
            if slot == 0, let dPositiveLogits { dLogits.add(dPositiveLogits) }
            // p = W_2 t + b_2, t = tanh(W_1 v̄ + b_1), v̄ = mean_i v_i
            labelHeadBackward(
                encoding: encoding,
                dLogits: dLogits,
                dLabelWeight: dLabelWeight,
                dLabelBias: dLabelBias,
                dHiddenWeight: dHiddenWeight,
                dHiddenBias: dHiddenBias,
                dHidden: dHidden,
                dMean: dVector,
                arena: arena
            )
            for i in 0..<r { dRegions[i].add(1 / Float(r), times: dVector) }
            // v_i = u_i / |u_i|, u_i = W_v r_i + b_v
            image.regions.withUnsafeBufferPointer { features in
                let rows = MatrixView(features.baseAddress!, rows: r, columns: regionDimension)
                for i in 0..<r {
                    normalisationBackward(regions[i], dRegions[i], norm: encoding.regionNorms[i], into: dVector)
                    dRegionBias.add(dVector)
                    dRegionWeight.accumulateOuterProduct(dVector, rows[i])
                }
            }
            // k_l = t_l / |t_l|, t_l = tanh(E_kᵀ x_l + b_k)
            encoding.keywordActivations.withUnsafeBufferPointer { activations in
                for (l, bag) in image.keywords.enumerated() {
                    normalisationBackward(keywords[l], dKeywords[l], norm: encoding.keywordNorms[l], into: dVector)
                    dVector.multiplyByTanhDerivative(of: VectorView(activations.baseAddress! + l * d, count: d))
                    dKeywordBias.add(dVector)
                    let row = UnsafeBufferPointer(start: UnsafePointer(dVector.base), count: d)
                    for (index, value) in zip(bag.indices, bag.counts) {
                        dKeywordTable.add(row: Int(index), scale: value, row)
                    }
                }
            }
        }

        // The gate's query halves: ∂M[:, :d] += preSum ⊗ ē, ∂ē = M[:, :d]ᵀ preSum.
        let meanWord = arena.vector(d)
        Self.mean(of: wordView, into: meanWord)
        let dMeanWord = arena.vector(d)
        gate.withGate { gate in
            for (b, branch) in [gate.visual, gate.keyword].enumerated() {
                let preSum = preSums[b]
                for row in 0..<h {
                    VectorView(gateGradients[b].weight[row].base, count: d).add(preSum[row], times: meanWord)
                    if full { dMeanWord.add(preSum[row], times: VectorView(branch.weight[row].base, count: d)) }
                }
            }
        }
        var gradients = ParameterGradients()
        func store(_ tensor: Tensor, _ values: MatrixView) {
            let count = values.rows * values.columns
            gradients.dense[tensor.rawValue] = Array(UnsafeBufferPointer(start: values.base, count: count))
        }
        func store(_ tensor: Tensor, _ values: VectorView) {
            store(tensor, MatrixView(values.base, rows: values.count, columns: 1))
        }
        store(.visualGateWeight, gateGradients[0].weight)
        store(.visualGateBias, gateGradients[0].bias)
        store(.visualGateScore, gateGradients[0].score)
        store(.keywordGateWeight, gateGradients[1].weight)
        store(.keywordGateBias, gateGradients[1].bias)
        store(.keywordGateScore, gateGradients[1].score)
        gradients.dense[Tensor.logTemperatures.rawValue] = dLogTemperatures
        gradients.dense[Tensor.alphaLogit.rawValue] = [dAlphaLogit]
        guard full else {
            withExtendedLifetime(arena) {}
            return ExampleGradients(loss: loss, gradients: gradients)
        }

        // e_j = t_j / |t_j|, t_j = tanh(E_qᵀ x_j + b_q); ē = mean_j e_j
        let wordEncoding = encodeWords(words)
        let dQueryBias = arena.vector(d)
        var dQueryTable = SparseRows(columns: d)
        wordEncoding.activations.withUnsafeBufferPointer { activations in
            for (j, bag) in words.enumerated() {
                dWords[j].add(1 / Float(q), times: dMeanWord)
                normalisationBackward(wordView[j], dWords[j], norm: wordEncoding.norms[j], into: dVector)
                dVector.multiplyByTanhDerivative(of: VectorView(activations.baseAddress! + j * d, count: d))
                dQueryBias.add(dVector)
                let row = UnsafeBufferPointer(start: UnsafePointer(dVector.base), count: d)
                for (index, value) in zip(bag.indices, bag.counts) {
                    dQueryTable.add(row: Int(index), scale: value, row)
                }
            }
        }
        store(.queryBias, dQueryBias)
        store(.keywordBias, dKeywordBias)
        store(.regionWeight, dRegionWeight)
        store(.regionBias, dRegionBias)
        store(.labelHiddenWeight, dHiddenWeight)
        store(.labelHiddenBias, dHiddenBias)
        store(.labelWeight, dLabelWeight)
        store(.labelBias, dLabelBias)
        gradients.sparse[Tensor.queryEmbedding.rawValue] = dQueryTable
        gradients.sparse[Tensor.keywordEmbedding.rawValue] = dKeywordTable
        withExtendedLifetime(arena) {}
        return ExampleGradients(loss: loss, gradients: gradients)
    }

    /// `y = x / n` (`n = sqrt(x·x + ε)`): `∂x = (∂y − y (y·∂y)) / n`, written to `out`.
    private func normalisationBackward(_ y: VectorView, _ dy: VectorView, norm: Float, into out: VectorView) {
        let projection = y.dot(dy)
        out.assign(1 / norm, times: dy)
        out.add(-projection / norm, times: y)
    }

    /// Backward of the label head `p = W_2 t + b_2`, `t = tanh(W_1 v̄ + b_1)`: adds into the head's gradients and
    /// writes `∂L/∂v̄` to `dMean`.
    private func labelHeadBackward(
        encoding: ImageEncoding,
        dLogits: VectorView,
        dLabelWeight: MatrixView,
        dLabelBias: VectorView,
        dHiddenWeight: MatrixView,
        dHiddenBias: VectorView,
        dHidden: VectorView,
        dMean: VectorView,
        arena: FloatArena
    ) {
        let d = embeddingDimension
        let hidden = arena.vector(d)
        let mean = arena.vector(d)
        encoding.labelHidden.withUnsafeBufferPointer { hidden.base.update(from: $0.baseAddress!, count: d) }
        encoding.meanRegion.withUnsafeBufferPointer { mean.base.update(from: $0.baseAddress!, count: d) }
        dLabelBias.add(dLogits)
        dLabelWeight.accumulateOuterProduct(dLogits, hidden)
        self[.labelWeight].withUnsafeBufferPointer { w2 in
            MatrixView(w2.baseAddress!, rows: labelBuckets, columns: d).combineRows(dLogits, start: nil, into: dHidden)
        }
        dHidden.multiplyByTanhDerivative(of: hidden)
        dHiddenBias.add(dHidden)
        dHiddenWeight.accumulateOuterProduct(dHidden, mean)
        self[.labelHiddenWeight].withUnsafeBufferPointer { w1 in
            MatrixView(w1.baseAddress!, rows: d, columns: d).combineRows(dHidden, start: nil, into: dMean)
        }
    }
}

/// Zeroed `Float` buffers that live as long as the arena (the training pass's gradients and copies, so the
/// backward pass works over ``MatrixView``s).
final class FloatArena {
    private var chunks: [UnsafeMutablePointer<Float>] = []

    init() {}

    deinit { for chunk in chunks { chunk.deallocate() } }

    /// A zeroed vector of `count` floats.
    func vector(_ count: Int) -> VectorView {
        let chunk = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        chunk.initialize(repeating: 0, count: max(count, 1))
        chunks.append(chunk)
        return VectorView(chunk, count: count)
    }

    /// A zeroed `rows × columns` matrix.
    func matrix(_ rows: Int, _ columns: Int) -> MatrixView {
        MatrixView(vector(rows * columns).base, rows: rows, columns: columns)
    }
}
