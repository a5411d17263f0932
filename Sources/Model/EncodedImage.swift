/// An image with its query-independent work done by one architecture: one contiguous block of floats whose
/// layout belongs to the architecture that encoded it (for AMC: the encoded region cells and keyword embeddings
/// and their attention projections; for late fusion: the pooled visual and the mean keyword vector).
///
/// It belongs to the model that encoded it, and stays valid for any model of the same architecture whose
/// ``ScoringModel/sharesImageEncodings(with:)`` says so — for example after a fine-tune of the online part of an
/// architecture whose image encodings survive it. Scoring encoded images gives bit-identical results to scoring
/// the raw ``ImageFeatures``, and does only the query-dependent work.
public struct EncodedImage: Sendable {
    /// Number of region cells R.
    public let regionCount: Int
    /// Number of keywords K.
    public let keywordCount: Int
    /// The architecture's encodings, in its layout (see the architecture's `encodeImages`).
    let values: [Float]

    /// Bytes held by the encodings (for memory accounting).
    public var byteCount: Int { values.count * MemoryLayout<Float>.size }
}
