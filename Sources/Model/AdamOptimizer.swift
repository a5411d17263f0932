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
    public private(set) var step: Int = 0
    private var beta1Power: Float = 1
    private var beta2Power: Float = 1
    private var firstMoment: AMCWeights
    private var secondMoment: AMCWeights

    /// Creates an optimiser with zero moments.
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
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.firstMoment = AMCWeights(zerosFor: configuration)
        self.secondMoment = AMCWeights(zerosFor: configuration)
    }

    /// Applies one Adam step: `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
    /// `θ ← θ − lr · m̂ / (sqrt(v̂) + ε)` with bias-corrected `m̂`, `v̂`.
    /// - Parameters:
    ///   - weights: The parameters to update in place.
    ///   - gradients: `∂L/∂θ`, same configuration.
    ///   - scope: Which tensors to update; moments of excluded tensors are left untouched.
    public mutating func update(_ weights: inout AMCWeights, gradients: AMCWeights, scope: Scope = .all) {
        precondition(weights.configuration == gradients.configuration, "gradient shape mismatch")
        step += 1
        beta1Power *= beta1
        beta2Power *= beta2
        let correction1 = 1 - beta1Power
        let correction2 = 1 - beta2Power
        let (b1, b2, lr, eps) = (beta1, beta2, learningRate, epsilon)
        for tensor in AMCTensor.allCases where scope.includes(tensor) {
            let g = gradients[tensor]
            firstMoment.withTensor(tensor) { m in
                secondMoment.withTensor(tensor) { v in
                    weights.withTensor(tensor) { w in
                        for i in w.indices {
                            m[i] = b1 * m[i] + (1 - b1) * g[i]
                            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                            let mHat = m[i] / correction1
                            let vHat = v[i] / correction2
                            w[i] -= lr * mHat / (vHat.squareRoot() + eps)
                        }
                    }
                }
            }
        }
    }
}
