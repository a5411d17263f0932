/// An image with its query-independent work done: the encoded region cells and keyword embeddings, and their
/// attention projections (`A_v v_i`, `B_k k_j`).
///
/// It belongs to the model that encoded it, and stays valid for any model with the same image-side tensors
/// (`W_v`, `b_v`, `W_k`, `b_k`, `A_v`, `B_k` and the hash bucket count) — for example after MTN-only fine-tuning.
/// Scoring encoded images (``AMCModel/score(query:encodedImages:)``) gives bit-identical results to scoring the
/// raw ``ImageFeatures``, and does only the query-dependent work (the attentions' query terms, tanh and softmax,
/// the MTN, the cosine).
///
/// Everything a request reads of the image is one contiguous block, in the order the scoring pass reads it:
/// `A_v v_i` (R × a) | `v_i` (R × d) | `B_k k_j` (K × a) | `k_j` (K × d), each row-major.
public struct EncodedImage: Sendable {
    /// Number of region cells R.
    public let regionCount: Int
    /// Number of keywords K.
    public let keywordCount: Int
    /// The storage holding the block (shared with the other images encoded in the same batch).
    let storage: EncodedImageStorage
    /// Where the block starts in ``storage``; it is `(R + K) · (a + d)` floats long.
    let offset: Int
    /// `d` and `a` of the model that encoded it.
    let embeddingDimension: Int
    let attentionDimension: Int

    /// The block's parts as views, for the duration of `body`.
    func withViews<Result>(
        _ body: (
            _ regionProjections: MatrixView, _ regions: MatrixView, _ keywordProjections: MatrixView,
            _ keywords: MatrixView
        ) -> Result
    ) -> Result {
        let (r, kc, d, a) = (regionCount, keywordCount, embeddingDimension, attentionDimension)
        let base = storage.base + offset
        let keywordsStart = base + r * (a + d)
        let result = body(
            MatrixView(base, rows: r, columns: a),
            MatrixView(base + r * a, rows: r, columns: d),
            MatrixView(keywordsStart, rows: kc, columns: a),
            MatrixView(keywordsStart + kc * a, rows: kc, columns: d)
        )
        withExtendedLifetime(storage) {}
        return result
    }

    /// Bytes held by the encodings (for memory accounting).
    public var byteCount: Int {
        (regionCount + keywordCount) * (embeddingDimension + attentionDimension) * MemoryLayout<Float>.size
    }
}
