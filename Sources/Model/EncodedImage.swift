/// An image with its query-independent work done: the encoded region cells and keyword embeddings, and their
/// attention projections (`A_v v_i`, `B_k k_j`).
///
/// It belongs to the model that encoded it, and stays valid for any model with the same image-side tensors
/// (`W_v`, `b_v`, `W_k`, `b_k`, `A_v`, `B_k` and the hash bucket count) — for example after MTN-only fine-tuning.
/// Scoring encoded images (``AMCModel/score(query:encodedImages:)``) gives bit-identical results to scoring the
/// raw ``ImageFeatures``, and does only the query-dependent work (the attentions' query terms, tanh and softmax,
/// the MTN, the cosine).
public struct EncodedImage: Sendable {
    /// Number of region cells R.
    public let regionCount: Int
    /// Number of keywords K.
    public let keywordCount: Int
    /// `v_i = tanh(W_v x_i + b_v)`, row-major R × d.
    let regions: [Float]
    /// `k_j = tanh(W_k x_j + b_k)`, row-major K × d.
    let keywords: [Float]
    /// `A_v v_i`, row-major R × a: the VAN's hidden layer before the query term.
    let regionProjections: [Float]
    /// `B_k k_j`, row-major K × a: the LAN's hidden layer before the query term.
    let keywordProjections: [Float]

    /// Bytes held by the encodings (for memory accounting).
    public var byteCount: Int {
        (regions.count + keywords.count + regionProjections.count + keywordProjections.count)
            * MemoryLayout<Float>.size
    }
}
