/// SIMD kernels over contiguous `Float` buffers (raw pointers into preallocated storage; nothing allocates).
///
/// Every output element is a sum in a fixed, documented order that does not depend on the vector width, and every
/// multiply–add is written as an explicit fused one (`addingProduct`: IEEE-754 fma, rounded once, the same result
/// in hardware or in software) while the compiler contracts nothing by itself, so results are bit-identical on every
/// platform.
enum Kernels {
    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store8(_ value: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD8<Float>.self)
    }

    /// `Σ x[i]·y[i]`: two `SIMD8` accumulators over whole blocks of 16 (block `b` adds elements `16b..<16b+8`
    /// lane-wise into the first and `16b+8..<16b+16` into the second), reduced as `first + second`, then lanes
    /// `i + (i+4)`, then `i + (i+2)`, then `lane0 + lane1`; the remaining `n mod 16` products are added in order.
    /// Each product is fused into its accumulator (`acc = fma(x, y, acc)`).
    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>()
        var acc1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            acc0 = acc0.addingProduct(load8(x + i), load8(y + i))
            acc1 = acc1.addingProduct(load8(x + i + 8), load8(y + i + 8))
            i += 16
        }
        let s8 = acc0 + acc1
        let s4 = s8.lowHalf + s8.highHalf
        let s2 = s4.lowHalf + s4.highHalf
        var s = s2[0] + s2[1]
        while i < n {
            s = s.addingProduct(x[i], y[i])
            i += 1
        }
        return s
    }

    /// `out[j] = start[j] + Σ_{i<n} c[i·cs] · v[i·vs + j]` for `j < m`, each element summed left to right, each
    /// term fused into the running sum (`acc = fma(c, v, acc)`; `start == nil` starts from 0). `start` may be `out`
    /// (accumulate in place); `v` must not overlap `out`.
    ///
    /// This one kernel is the matrix–vector product of every layer (`v` = a transposed weight matrix, `c` = the
    /// input), the outer-product gradient accumulations (`v` = the inputs, `c` = a column of pre-activations),
    /// `Wᵀ·δ` in the backward pass (`v` = the row-major weight matrix) and the attentions' pooling (`v` = the items,
    /// `Float16` ones read in place from a compact catalog: each converts exactly, so the same bits as decoding first).
    static func combine<Element: KernelElement>(
        _ out: UnsafeMutablePointer<Float>,
        start: UnsafePointer<Float>?,
        _ n: Int,
        _ c: UnsafePointer<Float>,
        _ cs: Int,
        _ v: UnsafePointer<Element>,
        _ vs: Int,
        _ m: Int
    ) {
        var j = 0
        // Blocks of 64 columns first: eight independent accumulators keep both FMA pipes busy, where four would wait
        // on each other's latency (the order of every column's sum is the same either way).
        while j + 64 <= m {
            var a = (
                SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(),
                SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>()
            )
            if let start {
                a = (
                    load8(start + j), load8(start + j + 8), load8(start + j + 16), load8(start + j + 24),
                    load8(start + j + 32), load8(start + j + 40), load8(start + j + 48), load8(start + j + 56)
                )
            }
            var cp = c
            var vp = v + j
            for _ in 0..<n {
                let s = SIMD8<Float>(repeating: cp.pointee)
                a.0 = a.0.addingProduct(s, Element.load8(vp))
                a.1 = a.1.addingProduct(s, Element.load8(vp + 8))
                a.2 = a.2.addingProduct(s, Element.load8(vp + 16))
                a.3 = a.3.addingProduct(s, Element.load8(vp + 24))
                a.4 = a.4.addingProduct(s, Element.load8(vp + 32))
                a.5 = a.5.addingProduct(s, Element.load8(vp + 40))
                a.6 = a.6.addingProduct(s, Element.load8(vp + 48))
                a.7 = a.7.addingProduct(s, Element.load8(vp + 56))
                cp += cs
                vp += vs
            }
            store8(a.0, out + j)
            store8(a.1, out + j + 8)
            store8(a.2, out + j + 16)
            store8(a.3, out + j + 24)
            store8(a.4, out + j + 32)
            store8(a.5, out + j + 40)
            store8(a.6, out + j + 48)
            store8(a.7, out + j + 56)
            j += 64
        }
        while j + 32 <= m {
            var a0 = SIMD8<Float>()
            var a1 = SIMD8<Float>()
            var a2 = SIMD8<Float>()
            var a3 = SIMD8<Float>()
            if let start {
                a0 = load8(start + j)
                a1 = load8(start + j + 8)
                a2 = load8(start + j + 16)
                a3 = load8(start + j + 24)
            }
            var cp = c
            var vp = v + j
            for _ in 0..<n {
                let s = SIMD8<Float>(repeating: cp.pointee)
                a0 = a0.addingProduct(s, Element.load8(vp))
                a1 = a1.addingProduct(s, Element.load8(vp + 8))
                a2 = a2.addingProduct(s, Element.load8(vp + 16))
                a3 = a3.addingProduct(s, Element.load8(vp + 24))
                cp += cs
                vp += vs
            }
            store8(a0, out + j)
            store8(a1, out + j + 8)
            store8(a2, out + j + 16)
            store8(a3, out + j + 24)
            j += 32
        }
        while j + 8 <= m {
            var a0 = SIMD8<Float>()
            if let start { a0 = load8(start + j) }
            var cp = c
            var vp = v + j
            for _ in 0..<n {
                a0 = a0.addingProduct(SIMD8<Float>(repeating: cp.pointee), Element.load8(vp))
                cp += cs
                vp += vs
            }
            store8(a0, out + j)
            j += 8
        }
        while j < m {
            var acc: Float = start.map { $0[j] } ?? 0
            var cp = c
            var vp = v + j
            for _ in 0..<n {
                acc = acc.addingProduct(cp.pointee, vp.pointee.floatValue)
                cp += cs
                vp += vs
            }
            out[j] = acc
            j += 1
        }
    }

    /// `out[j] = start[j] + Σ_t counts[t] · table[indices[t]·m + j]` for `j < m`, summed in entry order, each term
    /// fused into the running sum: a sparse input times a matrix stored transposed (one contiguous row of `m` per
    /// input index).
    static func gather(
        _ out: UnsafeMutablePointer<Float>,
        start: UnsafePointer<Float>,
        _ indices: UnsafePointer<Int32>,
        _ counts: UnsafePointer<Float>,
        _ n: Int,
        _ table: UnsafePointer<Float>,
        _ m: Int
    ) {
        var j = 0
        while j + 32 <= m {
            var a0 = load8(start + j)
            var a1 = load8(start + j + 8)
            var a2 = load8(start + j + 16)
            var a3 = load8(start + j + 24)
            for t in 0..<n {
                let s = SIMD8<Float>(repeating: counts[t])
                let row = table + Int(indices[t]) * m + j
                a0 = a0.addingProduct(s, load8(row))
                a1 = a1.addingProduct(s, load8(row + 8))
                a2 = a2.addingProduct(s, load8(row + 16))
                a3 = a3.addingProduct(s, load8(row + 24))
            }
            store8(a0, out + j)
            store8(a1, out + j + 8)
            store8(a2, out + j + 16)
            store8(a3, out + j + 24)
            j += 32
        }
        while j + 8 <= m {
            var a0 = load8(start + j)
            for t in 0..<n {
                a0 = a0.addingProduct(SIMD8<Float>(repeating: counts[t]), load8(table + Int(indices[t]) * m + j))
            }
            store8(a0, out + j)
            j += 8
        }
        while j < m {
            var acc = start[j]
            for t in 0..<n { acc = acc.addingProduct(counts[t], table[Int(indices[t]) * m + j]) }
            out[j] = acc
            j += 1
        }
    }

    /// `y[j] = fma(s, x[j], y[j])`.
    static func axpy(_ y: UnsafeMutablePointer<Float>, _ s: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        let sv = SIMD8<Float>(repeating: s)
        var j = 0
        while j + 8 <= n {
            store8(load8(y + j).addingProduct(sv, load8(x + j)), y + j)
            j += 8
        }
        while j < n {
            y[j] = y[j].addingProduct(s, x[j])
            j += 1
        }
    }

    /// `y[j] += x[j]`.
    static func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        var j = 0
        while j + 8 <= n {
            store8(load8(y + j) + load8(x + j), y + j)
            j += 8
        }
        while j < n {
            y[j] += x[j]
            j += 1
        }
    }

    /// `y[j] = s · x[j]`.
    static func scale(_ y: UnsafeMutablePointer<Float>, _ s: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        let sv = SIMD8<Float>(repeating: s)
        var j = 0
        while j + 8 <= n {
            store8(sv * load8(x + j), y + j)
            j += 8
        }
        while j < n {
            y[j] = s * x[j]
            j += 1
        }
    }

    /// `y[j] *= 1 − t[j]²` (the derivative of tanh given its output `t`).
    static func tanhGradient(_ y: UnsafeMutablePointer<Float>, _ t: UnsafePointer<Float>, _ n: Int) {
        let one = SIMD8<Float>(repeating: 1)
        var j = 0
        while j + 8 <= n {
            let tv = load8(t + j)
            store8(load8(y + j) * (one - tv * tv), y + j)
            j += 8
        }
        while j < n {
            y[j] *= 1 - t[j] * t[j]
            j += 1
        }
    }

    /// `p[j] = 0`.
    static func zero(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        p.update(repeating: 0, count: n)
    }

    /// `out[j] = tanh(x[j] + y[j])` (`out` may be `x`): the sum and ``tanhInPlace(_:_:)`` in one pass, same bits.
    /// `x` may be `Float16` values read in place (each converts exactly: the same bits as decoding them first).
    @inline(__always)
    static func tanhOfSum<Element: KernelElement>(
        _ out: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Element>,
        _ y: UnsafePointer<Float>,
        _ n: Int
    ) {
        var j = 0
        while j + 8 <= n {
            store8(tanh8(Element.load8(x + j) + load8(y + j)), out + j)
            j += 8
        }
        while j < n {
            out[j] = (x[j].floatValue + y[j]).tanhValue
            j += 1
        }
    }

    /// ``tanhOfSum(_:_:_:_:)`` of every row of an `x` of `rows` × `n` (row `i` at `x + i · xs`) with the same `y`,
    /// into `out` (row `i` at `out + i · os`): one call per matrix instead of per row, the same bits.
    static func tanhOfSums<Element: KernelElement>(
        _ out: UnsafeMutablePointer<Float>,
        _ os: Int,
        _ x: UnsafePointer<Element>,
        _ xs: Int,
        _ y: UnsafePointer<Float>,
        _ rows: Int,
        _ n: Int
    ) {
        for i in 0..<rows { tanhOfSum(out + i * os, x + i * xs, y, n) }
    }

    /// `out[i] = dot(x + i · xs, y, n)` for `i < rows` (``dot(_:_:_:)`` of every row with the same `y`, same bits).
    static func dots(
        _ out: UnsafeMutablePointer<Float>,
        _ x: UnsafePointer<Float>,
        _ xs: Int,
        _ y: UnsafePointer<Float>,
        _ rows: Int,
        _ n: Int
    ) {
        for i in 0..<rows { out[i] = dot(x + i * xs, y, n) }
    }

    /// `p[j] = tanh(p[j])`, exactly ``Swift/Float/tanhValue`` per element, eight lanes at a time.
    static func tanhInPlace(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        var j = 0
        while j + 8 <= n {
            store8(tanh8(load8(p + j)), p + j)
            j += 8
        }
        while j < n {
            p[j] = p[j].tanhValue
            j += 1
        }
    }

    /// Lane-wise ``Swift/Float/tanhValue``: the same `Float` operations in the same order, so the same bits.
    @inline(__always)
    static func tanh8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        typealias K = TanhConstants
        typealias V = SIMD8<Float>
        let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
        let ax = unsafeBitCast(bits & K.magnitudeMask, to: SIMD8<Float>.self)
        var xc = ax
        xc.replace(with: K.clamp, where: ax .> K.clamp)
        let x2 = xc * xc
        var p = V(repeating: K.p11).addingProduct(x2, V(repeating: K.p13))
        p = V(repeating: K.p9).addingProduct(x2, p)
        p = V(repeating: K.p7).addingProduct(x2, p)
        p = V(repeating: K.p5).addingProduct(x2, p)
        p = V(repeating: K.p3).addingProduct(x2, p)
        p = V(repeating: K.p1).addingProduct(x2, p)
        var q = V(repeating: K.q4).addingProduct(x2, V(repeating: K.q6))
        q = V(repeating: K.q2).addingProduct(x2, q)
        q = V(repeating: K.q0).addingProduct(x2, q)
        var result = (xc * p) / q
        result.replace(with: 1, where: ax .> K.saturation)
        result.replace(with: ax, where: ax .< K.linear)
        let signed = unsafeBitCast(result, to: SIMD8<UInt32>.self) | (bits & K.signMask)
        return unsafeBitCast(signed, to: SIMD8<Float>.self)
    }

    /// Constants of Adam's update for one step (see ``adam(_:_:_:_:_:_:)``).
    struct AdamStep {
        var beta1: Float
        var beta2: Float
        var learningRate: Float
        var epsilon: Float
        var correction1: Float
        var correction2: Float
    }

    /// Adam's step count and running powers `β1^t`, `β2^t` (in `Float`), shared by both optimisers so their bias
    /// corrections are the same bits.
    struct AdamSchedule: Sendable {
        /// Number of steps counted so far.
        private(set) var step = 0
        private var beta1Power: Float = 1
        private var beta2Power: Float = 1

        /// Counts one step and returns its constants.
        mutating func advance(learningRate: Float, beta1: Float, beta2: Float, epsilon: Float) -> AdamStep {
            step += 1
            beta1Power *= beta1
            beta2Power *= beta2
            return AdamStep(
                beta1: beta1,
                beta2: beta2,
                learningRate: learningRate,
                epsilon: epsilon,
                correction1: 1 - beta1Power,
                correction2: 1 - beta2Power
            )
        }
    }

    /// One Adam update per element: `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g g`,
    /// `w ← w − lr (m / c1) / (sqrt(v / c2) + ε)`, exactly as written (each operation rounded in `Float`).
    static func adam(
        _ w: UnsafeMutablePointer<Float>,
        _ m: UnsafeMutablePointer<Float>,
        _ v: UnsafeMutablePointer<Float>,
        _ g: UnsafePointer<Float>,
        _ n: Int,
        _ k: AdamStep
    ) {
        let b1 = k.beta1
        let b2 = k.beta2
        let oneMinusB1 = 1 - b1
        let oneMinusB2 = 1 - b2
        let (b1v, b2v) = (SIMD8<Float>(repeating: b1), SIMD8<Float>(repeating: b2))
        let (ob1v, ob2v) = (SIMD8<Float>(repeating: oneMinusB1), SIMD8<Float>(repeating: oneMinusB2))
        let (c1v, c2v) = (SIMD8<Float>(repeating: k.correction1), SIMD8<Float>(repeating: k.correction2))
        let (lrv, epsv) = (SIMD8<Float>(repeating: k.learningRate), SIMD8<Float>(repeating: k.epsilon))
        var j = 0
        while j + 8 <= n {
            let gv = load8(g + j)
            let mv = b1v * load8(m + j) + ob1v * gv
            let vv = b2v * load8(v + j) + ob2v * gv * gv
            store8(mv, m + j)
            store8(vv, v + j)
            let mHat = mv / c1v
            let vHat = vv / c2v
            store8(load8(w + j) - lrv * mHat / (vHat.squareRoot() + epsv), w + j)
            j += 8
        }
        while j < n {
            m[j] = b1 * m[j] + oneMinusB1 * g[j]
            v[j] = b2 * v[j] + oneMinusB2 * g[j] * g[j]
            let mHat = m[j] / k.correction1
            let vHat = v[j] / k.correction2
            w[j] -= k.learningRate * mHat / (vHat.squareRoot() + k.epsilon)
            j += 1
        }
    }
}

/// An element type the kernels read: `Float`, or `Float16` (a compact catalog's stored encodings) converted to
/// `Float` as it is loaded — exactly, so a kernel gives the same bits as on the values decoded first.
protocol KernelElement {
    /// Eight consecutive elements as `Float`s.
    static func load8(_ p: UnsafePointer<Self>) -> SIMD8<Float>
    /// The element as a `Float`.
    var floatValue: Float { get }
}

extension Float: KernelElement {
    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    var floatValue: Float { self }
}

extension Float16: KernelElement {
    /// Eight halves converted at once (F16C's `vcvtph2ps` where the model's code targets it).
    @inline(__always)
    static func load8(_ p: UnsafePointer<Float16>) -> SIMD8<Float> {
        // Lane by lane: the compiler folds it into one vector conversion, where the generic `SIMD8<Float>(_:)`
        // initialiser stayed a call inside the larger kernels.
        let h = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float16>.self)
        return SIMD8<Float>(
            Float(h[0]),
            Float(h[1]),
            Float(h[2]),
            Float(h[3]),
            Float(h[4]),
            Float(h[5]),
            Float(h[6]),
            Float(h[7])
        )
    }

    @inline(__always)
    var floatValue: Float { Float(self) }
}

/// The constants of ``Swift/Float/tanhValue`` (shared by the scalar and the vector version): a rational minimax
/// approximation `tanh x ≈ x·P(x²) / Q(x²)` on [0, ``clamp``], `P` of degree 6 and `Q` of degree 3 in `x²` (the
/// odd 13/6 form and coefficients of Eigen's float tanh).
enum TanhConstants {
    static let magnitudeMask: UInt32 = 0x7fff_ffff
    static let signMask: UInt32 = 0x8000_0000
    /// Inputs are clamped to this before the rational function (beyond it the function's value stops rising).
    static let clamp: Float = 7.905_311_107_635_498_05
    static let p1: Float = 4.893_524_558_917_86e-3
    static let p3: Float = 6.372_619_288_754_36e-4
    static let p5: Float = 1.485_722_357_179_79e-5
    static let p7: Float = 5.122_297_090_371_14e-8
    static let p9: Float = -8.604_671_522_137_35e-11
    static let p11: Float = 2.000_187_904_824_77e-13
    static let p13: Float = -2.760_768_477_423_55e-16
    static let q0: Float = 4.893_525_185_543_85e-3
    static let q2: Float = 2.268_434_632_439_00e-3
    static let q4: Float = 1.185_347_056_866_54e-4
    static let q6: Float = 1.198_258_394_667_02e-6
    /// Beyond this |x|, tanh(x) rounds to ±1.
    static let saturation: Float = 9
    /// Below this |x| (2^-12), tanh(x) rounds to x.
    static let linear: Float = 1.0 / 4096
}

/// The constants of ``Swift/Double/expApprox``.
enum ExpConstants {
    static let log2e = 1.442_695_040_888_963_4
    static let ln2High = 0.693_147_180_369_123_8
    static let ln2Low = 1.908_214_929_270_587_7e-10
    /// `1.5 · 2^52`: adding it rounds a `Double` of magnitude < 2^51 to an integer (ties to even), which then
    /// sits in the low bits of the sum's bit pattern.
    static let roundingMagic = 6_755_399_441_055_744.0
    static let roundingMagicBits = Int64(bitPattern: roundingMagic.bitPattern)
    static let c11 = 1.0 / 39_916_800
    static let c10 = 1.0 / 3_628_800
    static let c9 = 1.0 / 362_880
    static let c8 = 1.0 / 40_320
    static let c7 = 1.0 / 5040
    static let c6 = 1.0 / 720
    static let c5 = 1.0 / 120
    static let c4 = 1.0 / 24
    static let c3 = 1.0 / 6
    static let c2 = 0.5
}

extension Kernels {
    /// `p[j] = exp(p[j] − top)`, exactly ``Swift/Float/expValue`` of the difference per element, four lanes at a
    /// time: the softmaxes' exponentials.
    static func expOfDifference(_ p: UnsafeMutablePointer<Float>, minus top: Float, _ n: Int) {
        let topv = SIMD4<Float>(repeating: top)
        var j = 0
        while j + 4 <= n {
            let x = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD4<Float>.self) - topv
            let e = SIMD4<Float>(exp4(SIMD4<Double>(x)))
            UnsafeMutableRawPointer(p + j).storeBytes(of: e, as: SIMD4<Float>.self)
            j += 4
        }
        // The last 1–3 elements as four lanes too (the spare lanes' results are dropped): the same bits per element,
        // without a scalar chain of `Double` operations each.
        if j < n {
            var x = SIMD4<Float>(repeating: top)
            for lane in 0..<(n - j) { x[lane] = p[j + lane] }
            let e = SIMD4<Float>(exp4(SIMD4<Double>(x - topv)))
            for lane in 0..<(n - j) { p[j + lane] = e[lane] }
        }
    }

    /// Lane-wise ``Swift/Double/expApprox``: the same `Double` operations in the same order, so the same bits.
    @inline(__always)
    static func exp4(_ value: SIMD4<Double>) -> SIMD4<Double> {
        typealias K = ExpConstants
        var x = value
        x.replace(with: 700, where: x .> 700)
        x.replace(with: -700, where: x .< -700)
        let shifted = x * K.log2e + K.roundingMagic
        let n = shifted - K.roundingMagic
        let r = (x - n * K.ln2High) - n * K.ln2Low
        typealias V = SIMD4<Double>
        var p = V(repeating: K.c11)
        p = V(repeating: K.c10).addingProduct(p, r)
        p = V(repeating: K.c9).addingProduct(p, r)
        p = V(repeating: K.c8).addingProduct(p, r)
        p = V(repeating: K.c7).addingProduct(p, r)
        p = V(repeating: K.c6).addingProduct(p, r)
        p = V(repeating: K.c5).addingProduct(p, r)
        p = V(repeating: K.c4).addingProduct(p, r)
        p = V(repeating: K.c3).addingProduct(p, r)
        p = V(repeating: K.c2).addingProduct(p, r)
        p = V(repeating: 1).addingProduct(p, r)
        p = V(repeating: 1).addingProduct(p, r)
        let exponent = unsafeBitCast(shifted, to: SIMD4<Int64>.self) &- K.roundingMagicBits &+ 1023
        return p * unsafeBitCast(exponent &<< 52, to: SIMD4<Double>.self)
    }

    /// `y[j] = (y[j] + x[j]) / count`, then `x[j] = 0`.
    static func mean(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>, _ count: Float, _ n: Int) {
        let cv = SIMD8<Float>(repeating: count)
        var j = 0
        while j + 8 <= n {
            store8((load8(y + j) + load8(x + j)) / cv, y + j)
            store8(SIMD8<Float>(), x + j)
            j += 8
        }
        while j < n {
            y[j] = (y[j] + x[j]) / count
            x[j] = 0
            j += 1
        }
    }
}
