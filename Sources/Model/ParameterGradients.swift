/// Gradients with respect to named tensors (``NamedTensor``): dense for ordinary tensors, row-sparse for embedding
/// tables (an example touches only the rows of the trigram buckets it contains).
///
/// A tensor that is absent has a zero gradient.
public struct ParameterGradients: Sendable, Equatable {
    /// Dense gradients by tensor name, each with the tensor's `rows × columns` values, row-major.
    public var dense: [String: [Float]]
    /// Row-sparse gradients by tensor name: only the listed rows are non-zero.
    public var sparse: [String: SparseRows]

    /// Creates gradients.
    /// - Parameters:
    ///   - dense: Dense gradients by name.
    ///   - sparse: Row-sparse gradients by name.
    public init(dense: [String: [Float]] = [:], sparse: [String: SparseRows] = [:]) {
        self.dense = dense
        self.sparse = sparse
    }

    /// Adds `other` into these gradients, tensor by tensor, entry by entry in order (rows new to a sparse tensor
    /// are appended in `other`'s order).
    /// - Parameter other: Gradients of the same model.
    public mutating func add(_ other: ParameterGradients) {
        for (name, values) in other.dense {
            if var mine = dense.removeValue(forKey: name) {
                precondition(mine.count == values.count, "gradient \(name) has another shape")
                for i in mine.indices { mine[i] += values[i] }
                dense[name] = mine
            } else {
                // From zero, like every other sum (so a -0 entry becomes +0 exactly as in `0 + x`).
                dense[name] = values.map { 0 + $0 }
            }
        }
        for (name, rows) in other.sparse {
            if var mine = sparse.removeValue(forKey: name) {
                mine.add(rows)
                sparse[name] = mine
            } else {
                var mine = SparseRows(columns: rows.columns)
                mine.add(rows)
                sparse[name] = mine
            }
        }
    }

    /// Replaces every entry `x` by `(x + other's entry) / count`, `other` being zero where it has no entry.
    /// - Parameters:
    ///   - other: The second partial sum (for the trainers' two-half minibatch mean).
    ///   - count: The batch size.
    mutating func mean(adding other: ParameterGradients, count: Float) {
        add(other)
        for name in dense.keys {
            dense[name] = dense[name]!.map { $0 / count }
        }
        for name in sparse.keys {
            sparse[name]!.values = sparse[name]!.values.map { $0 / count }
        }
    }
}

/// The non-zero rows of a gradient of a `rows × columns` table: their indices and values.
public struct SparseRows: Sendable, Equatable {
    /// The table's column count (the length of one row).
    public let columns: Int
    /// The rows that have a gradient, each once, in the order they were first touched.
    public private(set) var rows: [Int]
    /// `rows.count × columns` values, one row per entry of ``rows``.
    public internal(set) var values: [Float]
    private var positions: [Int: Int]

    /// An empty set of rows.
    /// - Parameter columns: The table's column count.
    public init(columns: Int) {
        self.columns = columns
        rows = []
        values = []
        positions = [:]
    }

    /// Adds `scale × vector` to one row (creating it at zero first).
    /// - Parameters:
    ///   - row: The row index.
    ///   - scale: The factor.
    ///   - vector: `columns` values.
    public mutating func add(row: Int, scale: Float, _ vector: UnsafeBufferPointer<Float>) {
        precondition(vector.count == columns, "row length mismatch")
        let start = position(of: row) * columns
        for j in 0..<columns { values[start + j] += scale * vector[j] }
    }

    /// Adds another set of rows of the same table.
    /// - Parameter other: The rows to add.
    public mutating func add(_ other: SparseRows) {
        precondition(other.columns == columns, "row length mismatch")
        for (index, row) in other.rows.enumerated() {
            let start = position(of: row) * columns
            for j in 0..<columns { values[start + j] += other.values[index * columns + j] }
        }
    }

    /// The gradient of one row (zeros if it has none).
    /// - Parameter row: The row index.
    public subscript(row row: Int) -> [Float] {
        guard let index = positions[row] else { return [Float](repeating: 0, count: columns) }
        return Array(values[(index * columns)..<((index + 1) * columns)])
    }

    private mutating func position(of row: Int) -> Int {
        if let index = positions[row] { return index }
        positions[row] = rows.count
        rows.append(row)
        values.append(contentsOf: repeatElement(0, count: columns))
        return rows.count - 1
    }

    public static func == (lhs: SparseRows, rhs: SparseRows) -> Bool {
        lhs.columns == rhs.columns && lhs.rows == rhs.rows && lhs.values == rhs.values
    }
}

/// The loss of one training example and its gradients.
public struct ExampleGradients: Sendable {
    /// `Σ_t max(0, margin − s(q, pos) + s(q, neg_t))`.
    public var loss: Float
    /// `∂L/∂θ` for the tensors in the scope.
    public var gradients: ParameterGradients
}
