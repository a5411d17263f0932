// MARK: - Loss and hand-written backward pass

extension CAANModel {
    /// The ranking hinge loss of one example (forward only).
    public func loss(for example: TrainingExample) -> Float {
        run(example, scope: nil).loss
    }

    /// The hinge loss and its analytic gradient (hand-written backward pass; a hinge term exactly at zero gives no
    /// gradient). With `.all`: dense `b_q`, `u`, `b_k`, `W_v`, `b_v` and the online part, row-sparse `E_q`, `E_k`
    /// (the rows of the trigram buckets in the example); with `.onlinePart`: `w_1`, `w_2`, `w_3`, `lambda`, `t_v`,
    /// `t_k` only (the backward pass stops at the fragments and the query words).
    public func lossAndGradients(for example: TrainingExample, scope: ParameterScope) -> ExampleGradients {
        run(example, scope: scope)
    }

    /// The forward pass of one example and, unless `scope` is nil, its backward pass.
    private func run(_ example: TrainingExample, scope: ParameterScope?) -> ExampleGradients {
        let d = embeddingDimension
        let encoded = encodeWords(example.queryWords, bag: example.query)
        let query = encoded.query
        let q = example.queryWords.count
        let images = [example.positive] + example.negatives
        var fragments: [[Float]] = []
        var raws: [[Float]] = []
        var norms: [[Float]] = []
        for image in images {
            precondition(
                image.regions.count == image.regionCount * regionDimension,
                "regions must be regionCount × regionDimension"
            )
            let m = image.regionCount + image.keywords.count
            var x = [Float](repeating: 0, count: m * d)
            var raw = [Float](repeating: 0, count: m * d)
            var norm = [Float](repeating: 0, count: m)
            x.withUnsafeMutableBufferPointer { x in
                raw.withUnsafeMutableBufferPointer { raw in
                    norm.withUnsafeMutableBufferPointer { norm in
                        encodeFragments(image, into: x.baseAddress!, raw: raw.baseAddress!, norms: norm.baseAddress!)
                    }
                }
            }
            fragments.append(x)
            raws.append(raw)
            norms.append(norm)
        }
        let workspaces = images.map {
            CAANWorkspace(d: d, fragments: $0.regionCount + $0.keywords.count, words: q)
        }
        let passes = withViews(query) { view, online in
            images.indices.map { slot in
                fragments[slot].withUnsafeBufferPointer { x in
                    workspaces[slot].forward(
                        fragments: x.baseAddress!,
                        regionCount: images[slot].regionCount,
                        fragmentCount: images[slot].regionCount + images[slot].keywords.count,
                        query: view,
                        online: online
                    )
                }
            }
        }

        // L = Σ_t max(0, margin − s_0 + s_t); ∂L/∂s per slot.
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
        guard let scope else { return ExampleGradients(loss: loss, gradients: ParameterGradients()) }

        let full = scope == .all
        var online = OnlineGradients(d: d, words: q, full: full)
        var encoders = EncoderGradients(d: d, regionDimension: regionDimension, full: full)
        for (slot, ds) in scoreGradients.enumerated() where ds != 0 {
            let (image, pass) = (images[slot], passes[slot])
            // Without fragments or words the score is 0 whatever the parameters.
            guard pass.fragmentCount > 0, q > 0 else { continue }
            var dFragments = [Float](repeating: 0, count: pass.fragmentCount * d)
            withViews(query) { view, weights in
                fragments[slot].withUnsafeBufferPointer { x in
                    dFragments.withUnsafeMutableBufferPointer { df in
                        backward(
                            workspaces[slot],
                            pass: pass,
                            fragments: x.baseAddress!,
                            regionCount: image.regionCount,
                            query: view,
                            online: weights,
                            dScore: ds,
                            dFragments: df.baseAddress!,
                            gradients: &online
                        )
                    }
                }
            }
            // f_i = x_i + t_type(i).
            for i in 0..<pass.fragmentCount {
                for c in 0..<d {
                    if i < image.regionCount {
                        online.regionType[c] += dFragments[i * d + c]
                    } else {
                        online.keywordType[c] += dFragments[i * d + c]
                    }
                }
            }
            if full {
                backwardFragments(
                    image,
                    fragments: fragments[slot],
                    raw: raws[slot],
                    norms: norms[slot],
                    dFragments: dFragments,
                    into: &encoders
                )
            }
        }

        // ω_j = w_2·e_j.
        let (w2, u) = (self[.alignmentWeight], self[.wordAttention])
        for j in 0..<q {
            for c in 0..<d {
                online.alignmentWeight[c] += online.alignmentTerms[j] * query.terms[j * d + c]
                if full { online.words[j * d + c] += online.alignmentTerms[j] * w2[c] }
            }
        }
        var gradients = ParameterGradients(dense: [
            Tensor.fragmentWeight.rawValue: online.fragmentWeight,
            Tensor.alignmentWeight.rawValue: online.alignmentWeight,
            Tensor.contextWeight.rawValue: online.contextWeight,
            Tensor.temperature.rawValue: [online.temperature],
            Tensor.regionType.rawValue: online.regionType,
            Tensor.keywordType.rawValue: online.keywordType,
        ])
        guard full else { return ExampleGradients(loss: loss, gradients: gradients) }

        // y = Σ_j π_j e_j, π = softmax(h), h_j = u·e_j.
        let pi = encoded.attention
        var dPi = [Float](repeating: 0, count: q)
        var weighted: Float = 0
        for j in 0..<q {
            for c in 0..<d { dPi[j] += online.query[c] * query.terms[j * d + c] }
            weighted += pi[j] * dPi[j]
        }
        var dU = [Float](repeating: 0, count: d)
        for j in 0..<q {
            let dh = pi[j] * (dPi[j] - weighted)
            for c in 0..<d {
                let e = query.terms[j * d + c]
                dU[c] += dh * e
                online.words[j * d + c] += pi[j] * online.query[c] + dh * u[c]
            }
        }
        // e_j = norm(tanh(E_qᵀ x_j + b_q)).
        var dQueryBias = [Float](repeating: 0, count: d)
        var dQueryTable = SparseRows(columns: d)
        for (j, bag) in example.queryWords.enumerated() {
            let pre = Self.backwardNormalizedTanh(
                dOut: online.words[(j * d)..<((j + 1) * d)],
                out: query.terms[(j * d)..<((j + 1) * d)],
                raw: encoded.raw[(j * d)..<((j + 1) * d)],
                norm: encoded.norms[j]
            )
            for c in 0..<d { dQueryBias[c] += pre[c] }
            pre.withUnsafeBufferPointer { pre in
                for (index, count) in zip(bag.indices, bag.counts) {
                    dQueryTable.add(row: Int(index), scale: count, pre)
                }
            }
        }
        gradients.dense[Tensor.queryBias.rawValue] = dQueryBias
        gradients.dense[Tensor.wordAttention.rawValue] = dU
        gradients.dense[Tensor.keywordBias.rawValue] = encoders.keywordBias
        gradients.dense[Tensor.regionWeight.rawValue] = encoders.regionWeight
        gradients.dense[Tensor.regionBias.rawValue] = encoders.regionBias
        gradients.sparse[Tensor.queryEmbedding.rawValue] = dQueryTable
        gradients.sparse[Tensor.keywordEmbedding.rawValue] = encoders.keywordTable
        return ExampleGradients(loss: loss, gradients: gradients)
    }

    /// The online part's gradients, plus what the query side needs (`∂L/∂(w_2·e_j)`, `∂L/∂e_j`, `∂L/∂y`).
    private struct OnlineGradients {
        var fragmentWeight: [Float]
        var alignmentWeight: [Float]
        var contextWeight: [Float]
        var temperature: Float = 0
        var regionType: [Float]
        var keywordType: [Float]
        /// `∂L/∂(w_2·e_j)` (Q).
        var alignmentTerms: [Float]
        /// `∂L/∂e_j` (Q × d; full scope only).
        var words: [Float]
        /// `∂L/∂y` (d; full scope only).
        var query: [Float]
        let full: Bool

        init(d: Int, words q: Int, full: Bool) {
            let zeros = [Float](repeating: 0, count: d)
            (fragmentWeight, alignmentWeight, contextWeight, regionType, keywordType) = (
                zeros, zeros, zeros, zeros, zeros
            )
            alignmentTerms = [Float](repeating: 0, count: q)
            words = [Float](repeating: 0, count: full ? q * d : 0)
            query = full ? zeros : []
            self.full = full
        }
    }

    /// The fragment encoders' gradients.
    private struct EncoderGradients {
        var regionWeight: [Float]
        var regionBias: [Float]
        var keywordBias: [Float]
        var keywordTable: SparseRows

        init(d: Int, regionDimension: Int, full: Bool) {
            regionWeight = [Float](repeating: 0, count: full ? d * regionDimension : 0)
            regionBias = [Float](repeating: 0, count: d)
            keywordBias = [Float](repeating: 0, count: d)
            keywordTable = SparseRows(columns: d)
        }
    }

    /// The backward pass of one image's pass given `∂L/∂s`: writes `∂L/∂f_i` (m × d) and adds into the online
    /// gradients (and, in full scope, `∂L/∂e_j` and `∂L/∂y`).
    private func backward(
        _ w: CAANWorkspace,
        pass: CAANWorkspace.Pass,
        fragments x: UnsafePointer<Float>,
        regionCount r: Int,
        query: CAANWorkspace.Query,
        online: CAANWorkspace.Online,
        dScore ds: Float,
        dFragments df: UnsafeMutablePointer<Float>,
        gradients g: inout OnlineGradients
    ) {
        let (d, m, q) = (embeddingDimension, pass.fragmentCount, query.words)
        let (z, y, s) = (w.image, query.vector, pass.score)
        let (yn, zn) = (query.norm, pass.imageNorm)
        let (w1, w3) = (online.fragmentWeight, online.contextWeight)
        let (tv, tk) = (online.regionType, online.keywordType)
        func type(_ i: Int) -> UnsafePointer<Float> { i < r ? tv : tk }
        // s = y·z / (|y| |z|).
        var dz = [Float](repeating: 0, count: d)
        for c in 0..<d {
            dz[c] = ds * (y[c] / (yn * zn) - s * z[c] / (zn * zn))
            if g.full { g.query[c] += ds * (z[c] / (yn * zn) - s * y[c] / (yn * yn)) }
        }
        // z = Σ_i a_i f_i; a = softmax(g).
        let a = w.attention
        var dLogits = [Float](repeating: 0, count: m)
        var weighted: Float = 0
        for i in 0..<m {
            var da: Float = 0
            for c in 0..<d { da += dz[c] * (x[i * d + c] + type(i)[c]) }
            dLogits[i] = da
            weighted += a[i] * da
        }
        for i in 0..<m { dLogits[i] = a[i] * (dLogits[i] - weighted) }
        // g_i = w_1·f_i + ρ_i + γ_i.
        for i in 0..<m {
            for c in 0..<d {
                df[i * d + c] = a[i] * dz[c] + dLogits[i] * w1[c]
                g.fragmentWeight[c] += dLogits[i] * (x[i * d + c] + type(i)[c])
            }
        }
        // γ_i = (Φ + Ĥ_i·T) / (m + Ĥ_i·S), S = Σ_k Ĥ_k, T = Σ_k φ_k Ĥ_k, Φ = Σ_k φ_k.
        let (hat, sums, weightedSums) = (w.normalized, w.sums, w.weightedSums)
        var dNumerator = [Float](repeating: 0, count: m)
        var dDenominator = [Float](repeating: 0, count: m)
        var dTotal: Float = 0
        var dSums = [Float](repeating: 0, count: q)
        var dWeightedSums = [Float](repeating: 0, count: q)
        for i in 0..<m {
            let denominator = w.denominators[i]
            dNumerator[i] = dLogits[i] / denominator
            dDenominator[i] = -dLogits[i] * w.numerators[i] / (denominator * denominator)
            dTotal += dNumerator[i]
            for j in 0..<q {
                dWeightedSums[j] += dNumerator[i] * hat[i * q + j]
                dSums[j] += dDenominator[i] * hat[i * q + j]
            }
        }
        var dHat = [Float](repeating: 0, count: m * q)
        for i in 0..<m {
            var dPhi = dTotal
            for j in 0..<q {
                dHat[i * q + j] =
                    dNumerator[i] * weightedSums[j] + dDenominator[i] * sums[j] + dSums[j] + w.context[i]
                    * dWeightedSums[j]
                dPhi += dWeightedSums[j] * hat[i * q + j]
            }
            // φ_i = w_3·f_i.
            for c in 0..<d {
                g.contextWeight[c] += dPhi * (x[i * d + c] + type(i)[c])
                df[i * d + c] += dPhi * w3[c]
            }
        }
        // Ĥ_i = H_i / |H_i|.
        let (h, p) = (w.alignment, w.crossAttention)
        var dH = [Float](repeating: 0, count: q * m)
        for i in 0..<m {
            var projection: Float = 0
            for j in 0..<q { projection += hat[i * q + j] * dHat[i * q + j] }
            for j in 0..<q { dH[j * m + i] = (dHat[i * q + j] - hat[i * q + j] * projection) / w.rowNorms[i] }
        }
        // ρ_i = Σ_j P_ij ω_j, P_·j = softmax_i(λ H_·j).
        let (omega, lambda) = (query.alignmentTerms, online.constants.temperature)
        for j in 0..<q {
            var mixed: Float = 0
            for i in 0..<m {
                g.alignmentTerms[j] += dLogits[i] * p[j * m + i]
                mixed += p[j * m + i] * dLogits[i] * omega[j]
            }
            for i in 0..<m {
                let dl = p[j * m + i] * (dLogits[i] * omega[j] - mixed)
                dH[j * m + i] += lambda * dl
                g.temperature += dl * h[j * m + i]
            }
        }
        // H_ij = f_i·e_j.
        for i in 0..<m {
            for j in 0..<q {
                let dh = dH[j * m + i]
                let e = query.word(j)
                for c in 0..<d {
                    df[i * d + c] += dh * e[c]
                    if g.full { g.words[j * d + c] += dh * (x[i * d + c] + type(i)[c]) }
                }
            }
        }
    }

    /// The fragment encoders' backward pass given `∂L/∂x_i` (`= ∂L/∂f_i`).
    private func backwardFragments(
        _ image: ImageFeatures,
        fragments: [Float],
        raw: [Float],
        norms: [Float],
        dFragments: [Float],
        into g: inout EncoderGradients
    ) {
        let (d, dim, r) = (embeddingDimension, regionDimension, image.regionCount)
        for i in 0..<r {
            // x_i = norm(p_i), p_i = W_v r_i + b_v.
            let range = (i * d)..<((i + 1) * d)
            let (out, dOut) = (fragments[range], dFragments[range])
            var projection: Float = 0
            for c in 0..<d { projection += out[out.startIndex + c] * dOut[dOut.startIndex + c] }
            for c in 0..<d {
                let dp = (dOut[dOut.startIndex + c] - out[out.startIndex + c] * projection) / norms[i]
                g.regionBias[c] += dp
                for k in 0..<dim { g.regionWeight[c * dim + k] += dp * image.regions[i * dim + k] }
            }
        }
        for (l, bag) in image.keywords.enumerated() {
            let i = r + l
            let range = (i * d)..<((i + 1) * d)
            let pre = Self.backwardNormalizedTanh(
                dOut: dFragments[range],
                out: fragments[range],
                raw: raw[range],
                norm: norms[i]
            )
            for c in 0..<d { g.keywordBias[c] += pre[c] }
            pre.withUnsafeBufferPointer { pre in
                for (index, count) in zip(bag.indices, bag.counts) {
                    g.keywordTable.add(row: Int(index), scale: count, pre)
                }
            }
        }
    }

    /// `∂L/∂pre` of `out = t / sqrt(t·t + ε)`, `t = tanh(pre)`, given `∂L/∂out`.
    static func backwardNormalizedTanh(
        dOut: ArraySlice<Float>,
        out: ArraySlice<Float>,
        raw: ArraySlice<Float>,
        norm: Float
    ) -> [Float] {
        let n = dOut.count
        var projection: Float = 0
        for c in 0..<n { projection += out[out.startIndex + c] * dOut[dOut.startIndex + c] }
        return (0..<n).map { c in
            let t = raw[raw.startIndex + c]
            return (dOut[dOut.startIndex + c] - out[out.startIndex + c] * projection) / norm * (1 - t * t)
        }
    }
}
