/// A query encoded once and reused for every image it is scored against.
///
/// It belongs to the model (architecture, weights and mode) that encoded it; after a training step, encode the
/// query again.
public struct EncodedQuery: Sendable {
    /// The trigram bag `x_q`.
    public let input: SparseVector
    /// `q`, the query in the shared embedding space (d).
    public let vector: [Float]
    /// The architecture's per-query terms shared by every image. AMC: `A_q q` (a) | `B_q q` (a) |
    /// `c_v + M_v[:, :d] q` (h) | `c_k + M_k[:, :d] q` (h). Late fusion: `[β_v, β_k]`. CAAN: the words
    /// `e_j` (Q × d) | `w_2·e_j` | `t_v·e_j` | `t_k·e_j` (Q each).
    let terms: [Float]
    /// `sqrt(q·q + ε)`.
    let norm: Float
}
