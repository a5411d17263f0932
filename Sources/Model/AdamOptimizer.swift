/// Adam (Kingma & Ba) over ``AMCWeights``, optionally restricted to the MTN tensors.
public struct AdamOptimizer: Sendable {
    /// Which tensors an update touches.
    public enum Scope: Sendable, Hashable {
        /// Every tensor (bootstrap training).
        case all
        /// Only the MTN tensors (``AMCTensor/isModalityAttention``); every other tensor stays bit-identical.
        case modalityAttentionOnly

        func includes(_ tensor: AMCTensor) -> Bool {
            switch self {
            case .all: true
            case .modalityAttentionOnly: tensor.isModalityAttention
            }
        }
    }

    /// Step size. Default: 0.001.
    public var learningRate: Float
    /// First-moment decay. Default: 0.9.
    public var beta1: Float
    /// Second-moment decay. Default: 0.999.
    public var beta2: Float
    /// Denominator guard. Default: 1e-8.
    public var epsilon: Float
    /// Number of updates applied so far.
    public var step: Int { schedule.step }
    private var schedule = Kernels.AdamSchedule()
    /// The moments, allocated for the weights' configuration on first use. The `W_q` and `W_k` moments are stored
    /// transposed (`H × d`, one contiguous `d`-vector per bucket) so a sparse update touches contiguous memory.
    private var firstMoment: AMCWeights?
    private var secondMoment: AMCWeights?

    /// Creates an optimiser; the zero moments are allocated for the weights of the first update.
    /// - Parameters:
    ///   - learningRate: Step size.
    ///   - beta1: First-moment decay.
    ///   - beta2: Second-moment decay.
    ///   - epsilon: Denominator guard.
    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    /// Creates an optimiser with zero moments for a configuration.
    /// - Parameters:
    ///   - configuration: The model dimensions.
    ///   - learningRate: Step size.
    ///   - beta1: First-moment decay.
    ///   - beta2: Second-moment decay.
    ///   - epsilon: Denominator guard.
    public init(
        configuration: ModelConfiguration,
        learningRate: Float = 1e-3,
        beta1: Float = 0.9,
        beta2: Float = 0.999,
        epsilon: Float = 1e-8
    ) {
        self.init(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon)
        prepare(configuration)
    }

    private mutating func prepare(_ configuration: ModelConfiguration) {
        if let firstMoment {
            precondition(firstMoment.configuration == configuration, "optimiser built for other dimensions")
        } else {
            firstMoment = AMCWeights(zerosFor: configuration)
            secondMoment = AMCWeights(zerosFor: configuration)
        }
    }

    /// Counts one step and returns its constants.
    private mutating func advance() -> Kernels.AdamStep {
        schedule.advance(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon)
    }

    /// Applies one dense Adam step: `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
    /// `θ ← θ − lr · m̂ / (sqrt(v̂) + ε)` with bias-corrected `m̂`, `v̂`, to every entry of every tensor in scope.
    /// (``ModelTrainer`` uses the same formula but updates only the active columns of `W_q` and `W_k`.)
    /// - Parameters:
    ///   - weights: The parameters to update in place.
    ///   - gradients: `∂L/∂θ`, same configuration.
    ///   - scope: Which tensors to update; moments of excluded tensors are left untouched.
    public mutating func update(_ weights: inout AMCWeights, gradients: AMCWeights, scope: Scope = .all) {
        precondition(weights.configuration == gradients.configuration, "gradient shape mismatch")
        let c = weights.configuration
        prepare(c)
        let k = advance()
        let (d, buckets) = (c.embeddingDimension, c.hashBuckets)
        for tensor in AMCTensor.allCases where scope.includes(tensor) {
            let gradient = gradients[tensor]
            firstMoment!.withTensor(tensor) { m in
                secondMoment!.withTensor(tensor) { v in
                    weights.withTensor(tensor) { w in
                        Self.withPointers(&w, &m, &v, gradient) { w, m, v, g in
                            switch tensor {
                            case .queryWeight, .keywordWeight:
                                // Moments are column-major: gather each column, update it, scatter it back.
                                withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * d) { column in
                                    let (wc, gc) = (column.baseAddress!, column.baseAddress! + d)
                                    for col in 0..<buckets {
                                        for row in 0..<d {
                                            wc[row] = w[row * buckets + col]
                                            gc[row] = g[row * buckets + col]
                                        }
                                        Kernels.adam(wc, m + col * d, v + col * d, gc, d, k)
                                        for row in 0..<d { w[row * buckets + col] = wc[row] }
                                    }
                                }
                            default:
                                Kernels.adam(w, m, v, g, gradient.count, k)
                            }
                        }
                    }
                }
            }
        }
    }

    /// One step for ``ModelTrainer``: dense over the small tensors in scope, lazy (only the listed columns) over
    /// `W_q` and `W_k`, reading the gradient from a ``GradientLayout`` buffer and keeping the model's packed copy
    /// in sync.
    mutating func apply(
        to model: inout AMCModel,
        gradient: UnsafePointer<Float>,
        layout gl: GradientLayout,
        queryColumns: UnsafeBufferPointer<Int32>,
        keywordColumns: UnsafeBufferPointer<Int32>,
        scope: Scope
    ) {
        let c = model.configuration
        prepare(c)
        let k = advance()
        let (d, buckets) = (c.embeddingDimension, c.hashBuckets)
        let pl = model.packed.layout
        for tensor in AMCTensor.allCases where scope.includes(tensor) {
            let g = gradient + gl.offset(tensor)
            switch tensor {
            case .queryWeight, .keywordWeight:
                let columns = tensor == .queryWeight ? queryColumns : keywordColumns
                let packedOffset = pl.transposed(tensor)!
                firstMoment!.withTensor(tensor) { m in
                    secondMoment!.withTensor(tensor) { v in
                        m.withUnsafeMutableBufferPointer { m in
                            v.withUnsafeMutableBufferPointer { v in
                                model.packed.data.withUnsafeMutableBufferPointer { packed in
                                    model.storage.withTensor(tensor) { w in
                                        w.withUnsafeMutableBufferPointer { w in
                                            let (m, v, w) = (m.baseAddress!, v.baseAddress!, w.baseAddress!)
                                            let table = packed.baseAddress! + packedOffset
                                            for column in columns {
                                                let col = Int(column)
                                                let p = table + col * d
                                                Kernels.adam(p, m + col * d, v + col * d, g + col * d, d, k)
                                                for row in 0..<d { w[row * buckets + col] = p[row] }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            default:
                firstMoment!.withTensor(tensor) { m in
                    secondMoment!.withTensor(tensor) { v in
                        model.storage.withTensor(tensor) { w in
                            let count = w.count
                            m.withUnsafeMutableBufferPointer { m in
                                v.withUnsafeMutableBufferPointer { v in
                                    w.withUnsafeMutableBufferPointer { w in
                                        Kernels.adam(w.baseAddress!, m.baseAddress!, v.baseAddress!, g, count, k)
                                    }
                                }
                            }
                        }
                    }
                }
                model.packed.refresh(tensor, from: model.storage)
            }
        }
    }

    private static func withPointers(
        _ w: inout [Float],
        _ m: inout [Float],
        _ v: inout [Float],
        _ g: [Float],
        _ body: (
            UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
            UnsafePointer<Float>
        ) -> Void
    ) {
        precondition(w.count == m.count && w.count == v.count && w.count == g.count, "tensor size mismatch")
        w.withUnsafeMutableBufferPointer { w in
            m.withUnsafeMutableBufferPointer { m in
                v.withUnsafeMutableBufferPointer { v in
                    g.withUnsafeBufferPointer { g in
                        body(w.baseAddress!, m.baseAddress!, v.baseAddress!, g.baseAddress!)
                    }
                }
            }
        }
    }
}
