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
        let encoded = encodeQuery(query)
        let sp = forward(encoded, positive).score
        var total: Float = 0
        for negative in negatives {
            total += max(0, configuration.margin - sp + forward(encoded, negative).score)
        }
        return total
    }

    /// The ranking hinge loss and its analytic gradient (hand-written backward pass).
    ///
    /// A hinge term exactly at zero contributes no gradient (the subgradient 0 is used at the kink).
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
        let d = c.embeddingDimension
        let a = c.attentionDimension
        let encoded = encodeQuery(query)
        let positiveForward = forward(encoded, positive)
        var loss: Float = 0
        var dPositive: Float = 0
        var negativeForwards: [ImageForward] = []
        var dNegatives: [Float] = []
        negativeForwards.reserveCapacity(negatives.count)
        for negative in negatives {
            let f = forward(encoded, negative)
            let term = c.margin - positiveForward.score + f.score
            if term > 0 {
                loss += term
                dPositive -= 1
                dNegatives.append(1)
            } else {
                dNegatives.append(0)
            }
            negativeForwards.append(f)
        }

        var grads = AMCWeights(zerosFor: c)
        var dq = [Float](repeating: 0, count: d)
        var dVisualTerm = [Float](repeating: 0, count: a)
        var dKeywordTerm = [Float](repeating: 0, count: a)
        if dPositive != 0 {
            backward(encoded, positive, positiveForward, dScore: dPositive, &grads, &dq, &dVisualTerm, &dKeywordTerm)
        }
        for (i, negative) in negatives.enumerated() where dNegatives[i] != 0 {
            backward(
                encoded,
                negative,
                negativeForwards[i],
                dScore: dNegatives[i],
                &grads,
                &dq,
                &dVisualTerm,
                &dKeywordTerm
            )
        }
        queryBackward(encoded, dq: &dq, dVisualTerm: dVisualTerm, dKeywordTerm: dKeywordTerm, &grads)
        return TrainingLoss(
            loss: loss,
            gradients: grads,
            positiveScore: positiveForward.score,
            negativeScores: negativeForwards.map(\.score)
        )
    }

    // MARK: - Backward pass

    /// Back-propagates `dScore = ∂L/∂s` of one image into `grads`, and into the query-side accumulators.
    func backward(
        _ query: EncodedQuery,
        _ image: ImageFeatures,
        _ f: ImageForward,
        dScore: Float,
        _ grads: inout AMCWeights,
        _ dq: inout [Float],
        _ dVisualTerm: inout [Float],
        _ dKeywordTerm: inout [Float]
    ) {
        let c = configuration
        let d = c.embeddingDimension
        let a = c.attentionDimension
        let h = c.modalityDimension
        let dim = c.regionDimension
        let q = query.vector
        let nq = query.norm
        let nu = f.uNorm
        let s = f.score

        // s = q·u / (|q| |u|)
        var du = [Float](repeating: 0, count: d)
        for j in 0..<d {
            dq[j] += dScore * (f.u[j] / (nq * nu) - s * q[j] / (nq * nq))
            du[j] = dScore * (q[j] / (nq * nu) - s * f.u[j] / (nu * nu))
        }

        // u = β_v visual + β_k keyword
        var dVisual = [Float](repeating: 0, count: d)
        var dKeyword = [Float](repeating: 0, count: d)
        for j in 0..<d {
            dVisual[j] = f.betaV * du[j]
            dKeyword[j] = f.betaK * du[j]
        }

        // [β_v, β_k] = softmax(z_v, z_k)
        if f.hasVisual && f.hasKeyword {
            let dBetaV = Self.dot(du, 0, f.visual, 0, count: d)
            let dBetaK = Self.dot(du, 0, f.keyword, 0, count: d)
            let dzv = f.betaV * f.betaK * (dBetaV - dBetaK)
            Self.modalityBackward(
                weights.mv,
                weights.mvScore,
                h: h,
                d: d,
                q,
                f.visual,
                f.tv,
                dz: dzv,
                dMatrix: &grads.mv,
                dBias: &grads.cv,
                dScore: &grads.mvScore,
                dq: &dq,
                dx: &dVisual
            )
            Self.modalityBackward(
                weights.mk,
                weights.mkScore,
                h: h,
                d: d,
                q,
                f.keyword,
                f.tk,
                dz: -dzv,
                dMatrix: &grads.mk,
                dBias: &grads.ck,
                dScore: &grads.mkScore,
                dq: &dq,
                dx: &dKeyword
            )
        }

        // VAN → region encoder
        let r = image.regionCount
        if r > 0 {
            var dv = [Float](repeating: 0, count: r * d)
            Self.attendBackward(
                items: f.v,
                count: r,
                d: d,
                a: a,
                project: weights.av,
                score: weights.wa,
                hidden: f.hv,
                weights: f.alpha,
                dPooled: dVisual,
                dItems: &dv,
                dProject: &grads.av,
                dScore: &grads.wa,
                dQueryTerm: &dVisualTerm
            )
            for i in 0..<r {
                for row in 0..<d {
                    let value = f.v[i * d + row]
                    let pre = dv[i * d + row] * (1 - value * value)
                    grads.bv[row] += pre
                    for col in 0..<dim { grads.wv[row * dim + col] += pre * image.regions[i * dim + col] }
                }
            }
        }

        // LAN → keyword encoder (sparse)
        let kc = image.keywords.count
        if kc > 0 {
            var dk = [Float](repeating: 0, count: kc * d)
            Self.attendBackward(
                items: f.k,
                count: kc,
                d: d,
                a: a,
                project: weights.bkAttention,
                score: weights.wl,
                hidden: f.hk,
                weights: f.lambda,
                dPooled: dKeyword,
                dItems: &dk,
                dProject: &grads.bkAttention,
                dScore: &grads.wl,
                dQueryTerm: &dKeywordTerm
            )
            for (i, bag) in image.keywords.enumerated() {
                Self.sparseTanhBackward(
                    output: f.k,
                    at: i * d,
                    dOutput: dk,
                    columns: c.hashBuckets,
                    input: bag,
                    dMatrix: &grads.wk,
                    dBias: &grads.bk
                )
            }
        }
    }

    /// Back-propagates the accumulated query gradients through `A_q q`, `B_q q` and the query encoder.
    func queryBackward(
        _ query: EncodedQuery,
        dq: inout [Float],
        dVisualTerm: [Float],
        dKeywordTerm: [Float],
        _ grads: inout AMCWeights
    ) {
        let d = configuration.embeddingDimension
        let a = configuration.attentionDimension
        let q = query.vector
        for row in 0..<a {
            for col in 0..<d {
                grads.aq[row * d + col] += dVisualTerm[row] * q[col]
                grads.bqAttention[row * d + col] += dKeywordTerm[row] * q[col]
                dq[col] +=
                    weights.aq[row * d + col] * dVisualTerm[row]
                    + weights.bqAttention[row * d + col] * dKeywordTerm[row]
            }
        }
        Self.sparseTanhBackward(
            output: q,
            at: 0,
            dOutput: dq,
            columns: configuration.hashBuckets,
            input: query.input,
            dMatrix: &grads.wq,
            dBias: &grads.bq
        )
    }

    /// Backward of `y = tanh(W x + b)` with sparse `x`; `dOutput[at..<at+d]` is `∂L/∂y`.
    static func sparseTanhBackward(
        output: [Float],
        at offset: Int,
        dOutput: [Float],
        columns: Int,
        input: SparseVector,
        dMatrix: inout [Float],
        dBias: inout [Float]
    ) {
        for row in 0..<dBias.count {
            let y = output[offset + row]
            let pre = dOutput[offset + row] * (1 - y * y)
            dBias[row] += pre
            let base = row * columns
            for (index, count) in zip(input.indices, input.counts) {
                dMatrix[base + Int(index)] += pre * count
            }
        }
    }

    /// Backward of ``attend(items:count:d:a:project:queryTerm:score:hidden:weights:pooled:)``.
    static func attendBackward(
        items: [Float],
        count n: Int,
        d: Int,
        a: Int,
        project: [Float],
        score w: [Float],
        hidden: [Float],
        weights alpha: [Float],
        dPooled: [Float],
        dItems: inout [Float],
        dProject: inout [Float],
        dScore: inout [Float],
        dQueryTerm: inout [Float]
    ) {
        var dAlpha = [Float](repeating: 0, count: n)
        var weighted: Float = 0
        for i in 0..<n {
            dAlpha[i] = dot(dPooled, 0, items, i * d, count: d)
            weighted += alpha[i] * dAlpha[i]
            for j in 0..<d { dItems[i * d + j] += alpha[i] * dPooled[j] }
        }
        for i in 0..<n {
            let de = alpha[i] * (dAlpha[i] - weighted)
            for row in 0..<a {
                let hij = hidden[i * a + row]
                dScore[row] += de * hij
                let pre = de * w[row] * (1 - hij * hij)
                dQueryTerm[row] += pre
                let base = row * d
                for col in 0..<d {
                    dProject[base + col] += pre * items[i * d + col]
                    dItems[i * d + col] += project[base + col] * pre
                }
            }
        }
    }

    /// Backward of ``modalityLogit(_:_:_:h:d:_:_:into:)`` given `dz = ∂L/∂z`.
    static func modalityBackward(
        _ matrix: [Float],
        _ score: [Float],
        h: Int,
        d: Int,
        _ q: [Float],
        _ x: [Float],
        _ hidden: [Float],
        dz: Float,
        dMatrix: inout [Float],
        dBias: inout [Float],
        dScore: inout [Float],
        dq: inout [Float],
        dx: inout [Float]
    ) {
        for row in 0..<h {
            let t = hidden[row]
            dScore[row] += dz * t
            let pre = dz * score[row] * (1 - t * t)
            dBias[row] += pre
            let base = row * 2 * d
            for j in 0..<d {
                dMatrix[base + j] += pre * q[j]
                dMatrix[base + d + j] += pre * x[j]
                dq[j] += matrix[base + j] * pre
                dx[j] += matrix[base + d + j] * pre
            }
        }
    }
}
