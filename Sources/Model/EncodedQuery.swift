/// A query encoded once and reused for every image it is scored against.
///
/// It belongs to the model (weights and mode) that encoded it; after a training step, encode the query again.
public struct EncodedQuery: Sendable {
    /// The trigram bag `x_q`.
    public let input: SparseVector
    /// `q = tanh(W_q x_q + b_q)` (d).
    public let vector: [Float]
    /// `A_q q` (a) | `B_q q` (a) | `c_v + M_v[:, :d] q` (h) | `c_k + M_k[:, :d] q` (h): the per-query terms
    /// shared by every image's VAN, LAN and MTN.
    let terms: [Float]
    /// `sqrt(q·q + ε)`.
    let norm: Float
}
