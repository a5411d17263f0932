/// One labelled query: its candidate images and the gain of each.
///
/// `images` and `gains` are parallel arrays: `gains[i]` is the gain of `images[i]` (see ``RelevanceGrade``).
/// Gains are expected to be non-negative; a negative gain is treated as 0.
public struct JudgedQuery: Sendable, Hashable {
    /// The query (normalised by whoever built the value, e.g. ``LabelFile``).
    public var query: String
    /// The candidate image keys, in file order.
    public var images: [String]
    /// The gain of each image, same order and count as ``images``.
    public var gains: [Int]

    /// Creates a judged query.
    /// - Parameters:
    ///   - query: The query text.
    ///   - images: The candidate image keys.
    ///   - gains: One gain per image, in the same order.
    public init(query: String, images: [String], gains: [Int]) {
        self.query = query
        self.images = images
        self.gains = gains
    }
}
