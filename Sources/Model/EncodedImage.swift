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

    /// The block as float32, for the duration of `body` (read only once encoded). A compact block
    /// (``EncodingPrecision/float16``, ``EncodingPrecision/int8``) is decoded into a scratch block first.
    func withValues<Result>(_ body: (UnsafeMutablePointer<Float>) -> Result) -> Result {
        if storage.precision == .float32 {
            let result = body(storage.base + offset)
            withExtendedLifetime(storage) {}
            return result
        }
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: max(count, 1)) { scratch in
            let values = scratch.baseAddress!
            storage.decode(at: offset, count: count, into: values)
            return body(values)
        }
    }

    /// How the block is stored.
    public var precision: EncodingPrecision { storage.precision }

    /// Bytes held by the encodings (for memory accounting; an int8 block's padding and scales included).
    public var byteCount: Int { precision.byteCount(storedCount: precision.storedCount(count)) }

    /// The same encodings stored at `precision`, the batch in one new allocation, or each image in its own
    /// (each block decodes to float32 as ``EncodingPrecision`` describes; float32 in one allocation returns `images`
    /// unchanged).
    /// - Parameters:
    ///   - images: Images as an encoder returned them (float32).
    ///   - precision: The storage precision.
    ///   - separately: Whether each image gets its own allocation, freed with it (a cache that evicts images one by
    ///     one), rather than one for the batch.
    /// - Returns: One image per input, in order.
    public static func stored(
        _ images: [EncodedImage],
        at precision: EncodingPrecision,
        separately: Bool = false
    ) -> [EncodedImage] {
        guard precision != .float32 || separately else { return images }
        let total = separately ? 0 : images.reduce(0) { $0 + precision.storedCount($1.count) }
        let shared = separately ? nil : EncodedImageStorage(count: total, precision: precision)
        var offset = 0
        return images.map { image in
            precondition(image.precision == .float32, "only float32 encodings are converted")
            let storage = shared ?? EncodedImageStorage(count: precision.storedCount(image.count), precision: precision)
            if shared == nil { offset = 0 }
            image.withValues { storage.store($0, count: image.count, at: offset) }
            let stored = EncodedImage(
                regionCount: image.regionCount,
                keywordCount: image.keywordCount,
                storage: storage,
                offset: offset,
                count: image.count
            )
            offset += precision.storedCount(image.count)
            return stored
        }
    }
}
