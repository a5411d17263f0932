/// A sparse non-negative input vector: sorted, distinct bucket indices with their counts.
public struct SparseVector: Sendable, Hashable {
    /// Active indices, strictly increasing.
    public var indices: [Int32]
    /// The value at each index in ``indices`` (same length).
    public var counts: [Float]

    /// Creates a sparse vector.
    /// - Parameters:
    ///   - indices: Strictly increasing active indices.
    ///   - counts: One value per index.
    public init(indices: [Int32], counts: [Float]) {
        precondition(indices.count == counts.count, "indices and counts must have the same length")
        self.indices = indices
        self.counts = counts
    }

    /// The empty vector.
    public static let empty = SparseVector(indices: [], counts: [])

    /// Number of active entries.
    public var nonZeroCount: Int { indices.count }

    /// Cosine similarity of two sparse vectors (0 if either is empty).
    /// - Parameter other: The other vector.
    /// - Returns: `a·b / (|a| |b|)`.
    public func cosine(_ other: SparseVector) -> Float {
        var dot: Float = 0
        var i = 0
        var j = 0
        while i < indices.count && j < other.indices.count {
            if indices[i] == other.indices[j] {
                dot += counts[i] * other.counts[j]
                i += 1
                j += 1
            } else if indices[i] < other.indices[j] {
                i += 1
            } else {
                j += 1
            }
        }
        let na = counts.reduce(0) { $0 + $1 * $1 }
        let nb = other.counts.reduce(0) { $0 + $1 * $1 }
        guard na > 0, nb > 0 else { return 0 }
        return dot / (na.squareRoot() * nb.squareRoot())
    }
}
