/// A query encoded once and reused for every image it is scored against.
public struct EncodedQuery: Sendable {
    /// The trigram bag `x_q`.
    public let input: SparseVector
    /// `q = tanh(W_q x_q + b_q)` (d).
    public let vector: [Float]
    /// `A_q q` (a), shared by every image's VAN.
    let visualQueryTerm: [Float]
    /// `B_q q` (a), shared by every image's LAN.
    let keywordQueryTerm: [Float]
    /// `sqrt(q·q + ε)`.
    let norm: Float
}
