/// A seeded, deterministic SplitMix64 random number generator (used for weight initialisation and tests).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator from a seed.
    /// - Parameter seed: Any 64-bit seed.
    public init(seed: UInt64) { self.state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A uniform `Float` in `[-limit, limit)`, computed from the top 24 bits (platform independent).
    /// - Parameter limit: Half-width of the interval.
    /// - Returns: The sample.
    public mutating func nextSymmetric(_ limit: Float) -> Float {
        let unit = Float(next() >> 40) / Float(1 << 24)
        return (unit * 2 - 1) * limit
    }
}
