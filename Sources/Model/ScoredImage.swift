/// The score of one image for a query, with the modality weights that produced it.
public struct ScoredImage: Sendable, Hashable {
    /// Position of the image in the scored batch.
    public var index: Int
    /// `cos(q, u)` in [-1, 1].
    public var score: Float
    /// `β_v`, the weight of the attended visual vector.
    public var visualWeight: Float
    /// `β_k`, the weight of the attended keyword vector; `visualWeight + languageWeight == 1`.
    public var languageWeight: Float

    /// Creates a scored image.
    /// - Parameters:
    ///   - index: Batch position.
    ///   - score: Cosine score.
    ///   - visualWeight: `β_v`.
    ///   - languageWeight: `β_k`.
    public init(index: Int, score: Float, visualWeight: Float, languageWeight: Float) {
        self.index = index
        self.score = score
        self.visualWeight = visualWeight
        self.languageWeight = languageWeight
    }
}

extension Array where Element == ScoredImage {
    /// The images best first, equal scores in array order — for a model's output, whose images come in input
    /// order, the order of sorting by `(score descending, index ascending)` — computed on one 64-bit integer per
    /// image (the score's bits mapped to an unsigned integer that orders like the score, −0 as +0, then the
    /// position) so that sorting compares integers instead of calling a closure. Scores are finite (a NaN, which no
    /// comparison orders, sorts after every number).
    public func ranked() -> [ScoredImage] {
        precondition(count <= Int(UInt32.max), "too many images to rank")
        var keys = enumerated().map { position, image -> UInt64 in
            let bits = (image.score + 0).bitPattern  // −0 + 0 = +0
            // Increasing with the score: negative numbers flip every bit, the others gain the sign bit.
            let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
            let descending = image.score.isNaN ? UInt32.max : ~ordered
            return UInt64(descending) << 32 | UInt64(position)
        }
        keys.sort()
        return keys.map { self[Int($0 & 0xffff_ffff)] }
    }
}
