/// Adam (Kingma & Ba) over the named tensors of any architecture (``ModelParameters``).
///
/// Dense gradients update every entry of their tensor; row-sparse gradients (embedding tables) update only the
/// listed rows, whose moments alone decay ("lazy" Adam, as ``ModelTrainer`` does for AMC's `W_q`/`W_k`). Each
/// entry is updated with exactly the operations of ``AdamOptimizer`` (the same kernel), so a dense step over AMC's
/// tensors gives the same bits as ``AdamOptimizer/update(_:gradients:scope:)``.
public struct NamedTensorAdam: Sendable {
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
    /// First and second moments by tensor name, allocated (zero) on a tensor's first update.
    private var moments: [String: (first: [Float], second: [Float])] = [:]

    /// Creates an optimiser with zero moments.
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

    /// Applies one Adam step: `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`, `θ ← θ − lr · m̂ / (sqrt(v̂) + ε)` with
    /// bias-corrected `m̂`, `v̂`, to every entry of every tensor with a dense gradient and to the listed rows of
    /// every tensor with a row-sparse one. Tensors without a gradient, and their moments, are left untouched.
    /// - Parameters:
    ///   - parameters: The parameters to update in place.
    ///   - gradients: The gradients (names and shapes of `parameters`' tensors).
    public mutating func update(_ parameters: inout ModelParameters, gradients: ParameterGradients) {
        let k = schedule.advance(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon)
        for index in parameters.tensors.indices {
            let name = parameters.tensors[index].name
            let dense = gradients.dense[name]
            let sparse = gradients.sparse[name]
            guard dense != nil || sparse != nil else { continue }
            precondition(dense == nil || sparse == nil, "gradient \(name) is both dense and sparse")
            let count = parameters.tensors[index].values.count
            let columns = parameters.tensors[index].columns
            let zeros = [Float](repeating: 0, count: count)
            var (m, v) = moments.removeValue(forKey: name) ?? (zeros, zeros)
            m.withUnsafeMutableBufferPointer { m in
                v.withUnsafeMutableBufferPointer { v in
                    parameters.tensors[index].values.withUnsafeMutableBufferPointer { w in
                        let (w, m, v) = (w.baseAddress!, m.baseAddress!, v.baseAddress!)
                        if let dense {
                            precondition(dense.count == count, "gradient \(name) has another shape")
                            dense.withUnsafeBufferPointer { g in Kernels.adam(w, m, v, g.baseAddress!, count, k) }
                        } else if let sparse {
                            precondition(sparse.columns == columns, "gradient \(name) has another shape")
                            sparse.values.withUnsafeBufferPointer { g in
                                for (position, row) in sparse.rows.enumerated() {
                                    let offset = row * columns
                                    Kernels.adam(
                                        w + offset,
                                        m + offset,
                                        v + offset,
                                        g.baseAddress! + position * columns,
                                        columns,
                                        k
                                    )
                                }
                            }
                        }
                    }
                }
            }
            moments[name] = (m, v)
        }
    }
}
