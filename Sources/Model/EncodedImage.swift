/// An image with its query-independent work done by one architecture: one contiguous block of floats whose layout
/// belongs to the architecture that encoded it.
///
/// AMC's block holds, in the order its scoring pass reads them, `A_v v_i` (R × a) | `v_i` (R × d) | `B_k k_j` (K × a)
/// | `k_j` (K × d), each row-major; late fusion's holds the mean region and keyword vectors `v̄` | `k̄` (d each);
/// CAAN's the fragments `x_i`, regions then keywords ((R + K) × d).
///
/// It belongs to the model that encoded it, and stays valid for any model of the same architecture whose
/// ``ScoringModel/sharesImageEncodings(with:)`` says so — for example after a fine-tune of an online part that
/// keeps image encodings (AMC's MTN, late fusion's gate). Scoring encoded images gives bit-identical results to
/// scoring the raw ``ImageFeatures``, and does only the query-dependent work.
public struct EncodedImage: Sendable {
    /// Number of region cells R.
    public let regionCount: Int
    /// Number of keywords K.
    public let keywordCount: Int
    /// The storage holding the block (shared with the other images encoded in the same batch).
    let storage: EncodedImageStorage
    /// Where the block starts in ``storage``.
    let offset: Int
    /// The block's length in floats.
    let count: Int

    /// The block, for the duration of `body` (read only once encoded).
    func withValues<Result>(_ body: (UnsafeMutablePointer<Float>) -> Result) -> Result {
        let result = body(storage.base + offset)
        withExtendedLifetime(storage) {}
        return result
    }

    /// Bytes held by the encodings (for memory accounting).
    public var byteCount: Int { count * MemoryLayout<Float>.size }
}
