import Testing

@testable import Model

@Suite struct KernelTests {
    /// The eight-lane tanh is bit-identical to the scalar one, including the special values.
    @Test func vectorTanhEqualsScalarTanh() {
        var rng = SplitMix64(seed: 5)
        var values: [Float] = [
            0, -0.0, 1e-6, -1e-6, 1.0 / 4096, 0.5, 1, 8.99, 9, 9.01, 20, -20, 1e30, -1e30, .infinity, -.infinity,
            .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
        ]
        for _ in 0..<20_000 { values.append(rng.nextSymmetric(12)) }
        for _ in 0..<4000 { values.append(rng.nextSymmetric(0.01)) }
        while values.count % 8 != 3 { values.append(rng.nextSymmetric(3)) }  // leaves a scalar tail
        var vector = values
        vector.withUnsafeMutableBufferPointer { Kernels.tanhInPlace($0.baseAddress!, $0.count) }
        for (x, y) in zip(values, vector) {
            #expect(y.bitPattern == x.tanhValue.bitPattern || (x.isNaN && y.isNaN), "tanh(\(x))")
        }
        #expect(Float.nan.tanhValue.isNaN)
        #expect(Float(-0.0).tanhValue.sign == .minus)
    }

    /// The kernels compute what they document, for every length around the SIMD block sizes.
    @Test func kernelsMatchPlainLoops() {
        var rng = SplitMix64(seed: 6)
        for m in [1, 3, 8, 13, 32, 40, 64, 71] {
            let n = 5
            let x = (0..<(n * m)).map { _ in rng.nextSymmetric(1) }
            let c = (0..<(2 * n)).map { _ in rng.nextSymmetric(1) }
            let start = (0..<m).map { _ in rng.nextSymmetric(1) }
            var out = [Float](repeating: .nan, count: m)
            x.withUnsafeBufferPointer { xp in
                c.withUnsafeBufferPointer { cp in
                    start.withUnsafeBufferPointer { sp in
                        out.withUnsafeMutableBufferPointer { op in
                            Kernels.combine(
                                op.baseAddress!,
                                start: sp.baseAddress!,
                                n,
                                cp.baseAddress!,
                                2,
                                xp.baseAddress!,
                                m,
                                m
                            )
                        }
                    }
                }
            }
            for j in 0..<m {
                var expected = start[j]
                for i in 0..<n { expected = expected.addingProduct(c[2 * i], x[i * m + j]) }
                #expect(out[j] == expected, "combine m=\(m) j=\(j)")
            }
            let y = (0..<m).map { _ in rng.nextSymmetric(1) }
            let dot = x.withUnsafeBufferPointer { xp in
                y.withUnsafeBufferPointer { Kernels.dot(xp.baseAddress!, $0.baseAddress!, m) }
            }
            let exact = zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(Double(dot) - exact) <= 1e-5, "dot m=\(m)")
        }
    }

    /// Image-only scoring ignores the keywords: β_v = 1, β_k = 0 exactly, and the score is the attention model's
    /// score of the same image without keywords. Symmetrically for keyword-only.
    @Test func singleModalityModesUseOneBranch() {
        let c = smallConfiguration()
        var rng = SplitMix64(seed: 12)
        let weights = AMCWeights(configuration: c, seed: 12)
        let image = makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki", "baby"])
        let noKeywords = ImageFeatures(regions: image.regions, regionCount: 4, keywords: [])
        let noRegions = ImageFeatures(regions: [], regionCount: 0, keywords: image.keywords)
        let attention = AMCModel(weights: weights)
        let imageOnly = AMCModel(weights: weights, mode: .imageOnly)
        let keywordOnly = AMCModel(weights: weights, mode: .keywordOnly)
        let query = attention.encodeQuery("snooki baby bump")

        let visual = imageOnly.score(query: query, image: image)
        #expect(visual.visualWeight == 1 && visual.languageWeight == 0)
        #expect(visual.score.bitPattern == attention.score(query: query, image: noKeywords).score.bitPattern)
        let language = keywordOnly.score(query: query, image: image)
        #expect(language.visualWeight == 0 && language.languageWeight == 1)
        #expect(language.score.bitPattern == attention.score(query: query, image: noRegions).score.bitPattern)
        let both = attention.score(query: query, image: image)
        #expect(both.visualWeight > 0 && both.visualWeight < 1)
        #expect(
            ModalityMode(rawValue: "image_only") == .imageOnly && ModalityMode.keywordOnly.rawValue == "keyword_only"
        )
    }

    /// Assigning or mutating `weights` rebuilds the packed copy the kernels read.
    @Test func mutatingWeightsRebuildsThePackedCopy() {
        let c = smallConfiguration()
        var rng = SplitMix64(seed: 13)
        var model = AMCModel(weights: AMCWeights(configuration: c, seed: 13))
        let image = makeImage(&rng, configuration: c, regionCount: 4, keywords: ["car"])
        let before = model.score(query: "red car", images: [image])[0].score
        model.weights.wv[0] += 0.5
        model.weights.mv[3] -= 0.5
        let fresh = AMCModel(weights: model.weights)
        #expect(model.packed.data == fresh.packed.data)
        #expect(
            model.score(query: "red car", images: [image])[0].score
                == fresh.score(query: "red car", images: [image])[0].score
        )
        #expect(model.score(query: "red car", images: [image])[0].score != before)
        model.weights = AMCWeights(configuration: c, seed: 13)
        #expect(model.score(query: "red car", images: [image])[0].score == before)
    }
}

@Suite struct MatrixViewTests {
    /// The four-lane exponential of the softmaxes is bit-identical to the scalar one, special values included.
    @Test func vectorExpEqualsScalarExp() {
        var rng = SplitMix64(seed: 8)
        var values: [Float] = [0, -0.0, 1, -1, 88, -88, 700, -700, 701, -701, 1e30, -1e30, .infinity, -.infinity, .nan]
        for _ in 0..<20_000 { values.append(rng.nextSymmetric(30)) }
        while values.count % 4 != 3 { values.append(rng.nextSymmetric(3)) }  // leaves a scalar tail
        for top in [Float(0), 2.5, -7] {
            var vector = values
            vector.withUnsafeMutableBufferPointer { Kernels.expOfDifference($0.baseAddress!, minus: top, $0.count) }
            for (x, y) in zip(values, vector) {
                let expected = (x - top).expValue
                #expect(y.bitPattern == expected.bitPattern || (expected.isNaN && y.isNaN), "exp(\(x) − \(top))")
            }
        }
    }

    /// The named matrix operations compute what they document, element by element in the documented order.
    @Test func namedOperationsMatchPlainLoops() {
        var rng = SplitMix64(seed: 7)
        for columns in [1, 5, 8, 13, 32, 40] {
            let (n, rows) = (6, 4)
            var a = (0..<(n * rows)).map { _ in rng.nextSymmetric(1) }
            var b = (0..<(n * columns)).map { _ in rng.nextSymmetric(1) }
            let start = (0..<(rows * columns)).map { _ in rng.nextSymmetric(1) }
            var g = start
            var x = (0..<(columns + 3)).map { _ in rng.nextSymmetric(4) }
            let y = (0..<(columns + 3)).map { _ in rng.nextSymmetric(4) }
            var fused = [Float](repeating: .nan, count: x.count)
            var e = (0..<n).map { _ in rng.nextSymmetric(3) }
            let logits = e
            a.withUnsafeMutableBufferPointer { ap in
                b.withUnsafeMutableBufferPointer { bp in
                    g.withUnsafeMutableBufferPointer { gp in
                        MatrixView(gp.baseAddress!, rows: rows, columns: columns).accumulateOuterProducts(
                            MatrixView(ap.baseAddress!, rows: n, columns: rows),
                            MatrixView(bp.baseAddress!, rows: n, columns: columns)
                        )
                    }
                }
            }
            for row in 0..<rows {
                for column in 0..<columns {
                    var expected = start[row * columns + column]
                    for i in 0..<n { expected = expected.addingProduct(a[i * rows + row], b[i * columns + column]) }
                    #expect(g[row * columns + column] == expected, "outer products \(row), \(column)")
                }
            }
            x.withUnsafeMutableBufferPointer { xp in
                y.withUnsafeBufferPointer { yp in
                    fused.withUnsafeMutableBufferPointer {
                        Kernels.tanhOfSum($0.baseAddress!, xp.baseAddress!, yp.baseAddress!, xp.count)
                    }
                }
            }
            for j in x.indices { #expect(fused[j].bitPattern == (x[j] + y[j]).tanhValue.bitPattern, "tanhOfSum \(j)") }
            // Over a matrix, row by row: tanh(row i + t), and each row's dot with t as the single-row dot.
            var t = Array(y.prefix(columns))
            var hidden = [Float](repeating: .nan, count: n * columns)
            var dots = [Float](repeating: .nan, count: n)
            var expectedDots: [Float] = []
            b.withUnsafeMutableBufferPointer { bp in
                t.withUnsafeMutableBufferPointer { tp in
                    hidden.withUnsafeMutableBufferPointer { hp in
                        dots.withUnsafeMutableBufferPointer { dp in
                            let items = MatrixView(bp.baseAddress!, rows: n, columns: columns)
                            let term = VectorView(tp.baseAddress!, count: columns)
                            items.tanhOfSums(plus: term, into: MatrixView(hp.baseAddress!, rows: n, columns: columns))
                            items.dots(term, into: VectorView(dp.baseAddress!, count: n))
                            expectedDots = (0..<n).map { items[$0].dot(term) }
                        }
                    }
                }
            }
            for i in 0..<n {
                for j in 0..<columns {
                    let expected = (b[i * columns + j] + t[j]).tanhValue
                    #expect(hidden[i * columns + j].bitPattern == expected.bitPattern, "tanhOfSums \(i), \(j)")
                }
                #expect(dots[i].bitPattern == expectedDots[i].bitPattern, "dots \(i)")
            }
            e.withUnsafeMutableBufferPointer { VectorView($0.baseAddress!, count: n).softmax() }
            let top = logits.max()!
            let exps = logits.map { ($0 - top).expValue }
            var total: Float = 0
            for value in exps { total += value }
            #expect(e == exps.map { $0 / total })
        }
    }
}
