/// A non-owning view of `count` contiguous `Float`s in a preallocated buffer (a bias, a hidden layer, `q`).
///
/// Views never allocate and never outlive the buffer they were cut from (the engine's scratch, the packed weights,
/// an encoded image); they are how the model's code names what it reads and writes.
struct VectorView {
    let base: UnsafeMutablePointer<Float>
    let count: Int

    init(_ base: UnsafeMutablePointer<Float>, count: Int) {
        self.base = base
        self.count = count
    }

    /// A read-only buffer seen as a vector (the model never writes through views of its weights).
    init(_ base: UnsafePointer<Float>, count: Int) {
        self.init(UnsafeMutablePointer(mutating: base), count: count)
    }

    subscript(_ index: Int) -> Float {
        get { base[index] }
        nonmutating set { base[index] = newValue }
    }

    /// `self = 0`.
    func zero() { Kernels.zero(base, count) }

    /// `self = other`.
    func copy(from other: VectorView) { base.update(from: other.base, count: count) }

    /// `self = tanh(self)`, elementwise (``Swift/Float/tanhValue``).
    func tanh() { Kernels.tanhInPlace(base, count) }

    /// `self += other`.
    func add(_ other: VectorView) { Kernels.add(base, other.base, count) }

    /// `self += s · x`.
    func add(_ s: Float, times x: VectorView) { Kernels.axpy(base, s, x.base, count) }

    /// `self = s · x`.
    func assign(_ s: Float, times x: VectorView) { Kernels.scale(base, s, x.base, count) }

    /// `self ⊙= 1 − t²`: a gradient through `t = tanh(·)`.
    func multiplyByTanhDerivative(of t: VectorView) { Kernels.tanhGradient(base, t.base, count) }

    /// `Σ self[i] · other[i]` in the documented order (``Kernels/dot(_:_:_:)``).
    func dot(_ other: VectorView) -> Float { Kernels.dot(base, other.base, count) }

    /// `sqrt(self · self + ε_n)`: the norm the cosine divides by.
    var norm: Float { (dot(self) + AMCModel.normEpsilon).squareRoot() }

    /// `self = softmax(self)`: the maximum subtracted, `exp` (``Swift/Float/expValue``), the sum accumulated in
    /// order, then every element divided by it.
    func softmax() {
        var top = -Float.infinity
        for i in 0..<count { top = max(top, base[i]) }
        Kernels.expOfDifference(base, minus: top, count)
        var total: Float = 0
        for i in 0..<count { total += base[i] }
        for i in 0..<count { base[i] /= total }
    }
}

/// A non-owning row-major matrix view: `rows` rows of `columns` `Float`s, row `i` starting at `base + i · stride`.
///
/// Weight matrices the forward pass multiplies by are stored *transposed* (input-major, one row per input
/// element, see ``PackedLayout``), so `W x` is ``combineRows(_:start:into:)`` of `Wᵀ`: a sum of scaled
/// contiguous rows. The stored items of an image (`v_i`, `k_j`, their projections) are matrices with one item per
/// row.
struct MatrixView {
    let base: UnsafeMutablePointer<Float>
    let rows: Int
    let columns: Int
    let stride: Int

    init(_ base: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int? = nil) {
        self.base = base
        self.rows = rows
        self.columns = columns
        self.stride = stride ?? columns
    }

    /// A read-only buffer seen as a matrix.
    init(_ base: UnsafePointer<Float>, rows: Int, columns: Int, stride: Int? = nil) {
        self.init(UnsafeMutablePointer(mutating: base), rows: rows, columns: columns, stride: stride)
    }

    /// Row `i`.
    subscript(_ i: Int) -> VectorView { VectorView(base + i * stride, count: columns) }

    /// Rows `range` (a view of the same buffer).
    func rows(_ range: Range<Int>) -> MatrixView {
        MatrixView(base + range.lowerBound * stride, rows: range.count, columns: columns, stride: stride)
    }

    /// `out[i] = row i · v` for every row (``Kernels/dots(_:_:_:_:_:_:)``: each the bits of ``VectorView/dot(_:)``).
    func dots(_ v: VectorView, into out: VectorView) {
        precondition(v.count == columns && out.count == rows, "dots: shapes do not match")
        Kernels.dots(out.base, base, stride, v.base, rows, columns)
    }

    /// Columns `range` of every row (a view of the same buffer).
    func columns(_ range: Range<Int>) -> MatrixView {
        MatrixView(base + range.lowerBound, rows: rows, columns: range.count, stride: stride)
    }

    /// `out = start + Σ_i x[i] · self[i]` (`start` nil: from 0), each element summed left to right in `i`
    /// (``Kernels/combine(_:start:_:_:_:_:_:_:)``). With `self = Wᵀ` this is the layer `W x (+ b)`; `out` may be
    /// `start`, never a row of `self`.
    func combineRows(_ x: VectorView, start: VectorView?, into out: VectorView) {
        precondition(x.count == rows && out.count == columns, "combineRows: shapes do not match")
        Kernels.combine(out.base, start: start.map { UnsafePointer($0.base) }, rows, x.base, 1, base, stride, columns)
    }

    /// `out_i = start + Σ_j x_i[j] · self[j]` for every row `x_i` of `items`: ``combineRows(_:start:into:)`` per
    /// item (the encoders, the attentions' projections).
    func combineRows(ofEach items: MatrixView, start: VectorView?, into out: MatrixView) {
        for i in 0..<items.rows { combineRows(items[i], start: start, into: out[i]) }
    }

    /// `self += Σ_i a_i ⊗ b_i` over the rows of `a` (rows × self.rows) and `b` (rows × self.columns): for each
    /// element, the products added to it in row order (``Kernels/combine(_:start:_:_:_:_:_:_:)`` per row of
    /// `self`). The outer-product gradient of a layer over a batch of items.
    func accumulateOuterProducts(_ a: MatrixView, _ b: MatrixView) {
        precondition(a.rows == b.rows && a.columns == rows && b.columns == columns, "outer products: shapes")
        for row in 0..<rows {
            let out = self[row].base
            Kernels.combine(out, start: out, a.rows, a.base + row, a.stride, b.base, b.stride, columns)
        }
    }

    /// `self += a ⊗ b`: one outer product, row by row (`self[i] += a[i] · b`).
    func accumulateOuterProduct(_ a: VectorView, _ b: VectorView) {
        for row in 0..<rows { self[row].add(a[row], times: b) }
    }

    /// `tanh` of every element.
    func tanh() {
        if stride == columns {
            Kernels.tanhInPlace(base, rows * columns)
        } else {
            for i in 0..<rows { self[i].tanh() }
        }
    }
}

/// A read-only row-major matrix of `Float16`s, one item per row: a compact catalog's stored encodings, which the
/// kernels read in place, converting each value exactly as they load it.
struct HalfMatrixView {
    let base: UnsafePointer<Float16>
    let rows: Int
    let columns: Int

    init(_ base: UnsafePointer<Float16>, rows: Int, columns: Int) {
        self.base = base
        self.rows = rows
        self.columns = columns
    }
}

/// The items an attention pools over, one per row, read where they are: `Float` rows (``MatrixView``) or a compact
/// catalog's `Float16` rows (``HalfMatrixView``). Both give the same bits for the same values.
protocol AttentionItems {
    /// Number of items.
    var rows: Int { get }
    /// `out[i] = tanh(row i + t)` for every row (``Kernels/tanhOfSums(_:_:_:_:_:_:_:)``).
    func tanhOfSums(plus t: VectorView, into out: MatrixView)
    /// `out = Σ_i w[i] · row i`, summed in row order (``Kernels/combine(_:start:_:_:_:_:_:_:)``).
    func weightedSum(_ w: VectorView, into out: VectorView)
}

extension MatrixView: AttentionItems {
    func tanhOfSums(plus t: VectorView, into out: MatrixView) {
        precondition(
            t.count == columns && out.columns == columns && out.rows == rows,
            "tanhOfSums: shapes do not match"
        )
        Kernels.tanhOfSums(out.base, out.stride, base, stride, t.base, rows, columns)
    }

    func weightedSum(_ w: VectorView, into out: VectorView) {
        combineRows(w, start: nil, into: out)
    }
}

extension HalfMatrixView: AttentionItems {
    func tanhOfSums(plus t: VectorView, into out: MatrixView) {
        precondition(
            t.count == columns && out.columns == columns && out.rows == rows,
            "tanhOfSums: shapes do not match"
        )
        Kernels.tanhOfSums(out.base, out.stride, base, columns, t.base, rows, columns)
    }

    func weightedSum(_ w: VectorView, into out: VectorView) {
        precondition(w.count == rows && out.count == columns, "weightedSum: shapes do not match")
        Kernels.combine(out.base, start: nil, rows, w.base, 1, base, columns, columns)
    }
}
