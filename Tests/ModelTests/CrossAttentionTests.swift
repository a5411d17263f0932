import Foundation
import Testing

@testable import Model

@Suite struct CrossAttentionTests {
    /// Random rows in [-1, 1).
    static func rows(_ rng: inout SplitMix64, _ count: Int, _ d: Int) -> [Float] {
        (0..<(count * d)).map { _ in rng.nextSymmetric(1) }
    }

    /// Runs `body` with views of `fragments` (n × d) and `words` (Q × d).
    static func withViews<Result>(
        _ fragments: [Float],
        _ words: [Float],
        d: Int,
        _ body: (MatrixView, MatrixView) -> Result
    ) -> Result {
        var fragments = fragments
        var words = words
        return fragments.withUnsafeMutableBufferPointer { f in
            words.withUnsafeMutableBufferPointer { e in
                body(
                    MatrixView(f.baseAddress!, rows: f.count / d, columns: d),
                    MatrixView(e.baseAddress!, rows: e.count / d, columns: d)
                )
            }
        }
    }

    /// A scalar loss of one forward pass that reads both scores and the text-to-image attended vectors:
    /// `L = c_t S_t2i + c_i S_i2t + Σ_jk g_jk a_jk`.
    static func loss(
        _ fragments: [Float],
        _ words: [Float],
        d: Int,
        temperatures: CrossAttention.Temperatures,
        weights: (t2i: Float, i2t: Float),
        attendedWeights: [Float]
    ) -> Float {
        withViews(fragments, words, d: d) { f, e in
            let workspace = CrossAttentionWorkspace(fragmentCapacity: f.rows, wordCapacity: e.rows, dimension: d)
            let scores = CrossAttention.forward(
                fragments: f,
                words: e,
                temperatures: temperatures,
                workspace: workspace
            )
            var loss = weights.t2i * scores.textToImage + weights.i2t * scores.imageToText
            for j in 0..<e.rows {
                for c in 0..<d { loss += attendedWeights[j * d + c] * workspace.t2iAttended[j][c] }
            }
            return loss
        }
    }

    /// Central differences (in Double-free Float, ε = 1e-3) against the backward pass, for the fragments, the words
    /// and the three temperatures, in each direction alone and with an extra gradient on the attended vectors.
    @Test(arguments: [0, 1, 2])
    func backwardMatchesFiniteDifferences(caseIndex: Int) {
        let (n, q, d) = (5, 3, 4)
        var rng = SplitMix64(seed: 77 + UInt64(caseIndex))
        let fragments = Self.rows(&rng, n, d)
        let words = Self.rows(&rng, q, d)
        let temperatures = CrossAttention.Temperatures(textToImage: 3, imageToText: 2.5, pooling: 1.5)
        let weights: (t2i: Float, i2t: Float) = [(1, 0), (0, 1), (0.7, -0.4)][caseIndex]
        let attendedWeights = caseIndex == 2 ? Self.rows(&rng, q, d) : [Float](repeating: 0, count: q * d)

        var dFragments = [Float](repeating: 0, count: n * d)
        var dWords = [Float](repeating: 0, count: q * d)
        var extra = attendedWeights
        let dT = Self.withViews(fragments, words, d: d) { f, e in
            let workspace = CrossAttentionWorkspace(fragmentCapacity: n, wordCapacity: q, dimension: d)
            _ = CrossAttention.forward(fragments: f, words: e, temperatures: temperatures, workspace: workspace)
            return dFragments.withUnsafeMutableBufferPointer { df in
                dWords.withUnsafeMutableBufferPointer { de in
                    extra.withUnsafeMutableBufferPointer { g in
                        CrossAttention.backward(
                            fragments: f,
                            words: e,
                            temperatures: temperatures,
                            workspace: workspace,
                            dScores: CrossAttention.Scores(textToImage: weights.t2i, imageToText: weights.i2t),
                            dAttended: caseIndex == 2 ? MatrixView(g.baseAddress!, rows: q, columns: d) : nil,
                            dFragments: MatrixView(df.baseAddress!, rows: n, columns: d),
                            dWords: MatrixView(de.baseAddress!, rows: q, columns: d)
                        )
                    }
                }
            }
        }
        let epsilon: Float = 1e-3
        func check(_ name: String, _ exact: Float, _ perturbed: (Float) -> Float) {
            let numeric = (perturbed(epsilon) - perturbed(-epsilon)) / (2 * epsilon)
            #expect(
                abs(exact - numeric) <= 1e-2 * max(abs(exact), abs(numeric)) + 2e-3,
                "\(name): analytic \(exact), numeric \(numeric)"
            )
        }
        func loss(_ f: [Float], _ e: [Float], _ t: CrossAttention.Temperatures) -> Float {
            Self.loss(f, e, d: d, temperatures: t, weights: weights, attendedWeights: attendedWeights)
        }
        for index in 0..<(n * d) {
            check("f[\(index)]", dFragments[index]) { delta in
                var f = fragments
                f[index] += delta
                return loss(f, words, temperatures)
            }
        }
        for index in 0..<(q * d) {
            check("e[\(index)]", dWords[index]) { delta in
                var e = words
                e[index] += delta
                return loss(fragments, e, temperatures)
            }
        }
        check("λ1", dT.textToImage) { delta in
            var t = temperatures
            t.textToImage += delta
            return loss(fragments, words, t)
        }
        check("λ1'", dT.imageToText) { delta in
            var t = temperatures
            t.imageToText += delta
            return loss(fragments, words, t)
        }
        check("λ2", dT.pooling) { delta in
            var t = temperatures
            t.pooling += delta
            return loss(fragments, words, t)
        }
        #expect(dFragments.contains { $0 != 0 } && dWords.contains { $0 != 0 })
        if weights.t2i != 0 { #expect(dT.textToImage != 0) }
        if weights.i2t != 0 { #expect(dT.imageToText != 0 && dT.pooling != 0) }

        // Without the inputs' gradients the temperatures' are the same bits.
        let temperaturesOnly = Self.withViews(fragments, words, d: d) { f, e in
            let workspace = CrossAttentionWorkspace(fragmentCapacity: n, wordCapacity: q, dimension: d)
            _ = CrossAttention.forward(fragments: f, words: e, temperatures: temperatures, workspace: workspace)
            return extra.withUnsafeMutableBufferPointer { g in
                CrossAttention.backward(
                    fragments: f,
                    words: e,
                    temperatures: temperatures,
                    workspace: workspace,
                    dScores: CrossAttention.Scores(textToImage: weights.t2i, imageToText: weights.i2t),
                    dAttended: caseIndex == 2 ? MatrixView(g.baseAddress!, rows: q, columns: d) : nil,
                    dFragments: nil,
                    dWords: nil
                )
            }
        }
        #expect(temperaturesOnly == dT)
    }

    /// Every softmax of both directions sums to 1, and so does the text-to-image attention averaged over words.
    @Test func attentionWeightsSumToOne() {
        let (n, q, d) = (7, 4, 6)
        var rng = SplitMix64(seed: 5)
        let fragments = Self.rows(&rng, n, d)
        let words = Self.rows(&rng, q, d)
        Self.withViews(fragments, words, d: d) { f, e in
            // A workspace larger than the pass, reused for a smaller pass after a larger one.
            let workspace = CrossAttentionWorkspace(fragmentCapacity: 9, wordCapacity: 5, dimension: d)
            let temperatures = CrossAttention.Temperatures(textToImage: 9, imageToText: 4, pooling: 5)
            for rows in [n, 3] {
                let scores = CrossAttention.forward(
                    fragments: f.rows(0..<rows),
                    words: e,
                    temperatures: temperatures,
                    workspace: workspace
                )
                #expect(scores.textToImage.isFinite && scores.imageToText.isFinite)
                for j in 0..<q {
                    let sum = (0..<rows).reduce(Float(0)) { $0 + workspace.t2iWeights[j][$1] }
                    #expect(abs(sum - 1) < 1e-5)
                }
                for i in 0..<rows {
                    let sum = (0..<q).reduce(Float(0)) { $0 + workspace.i2tWeights[i][$1] }
                    #expect(abs(sum - 1) < 1e-5)
                }
                var average = [Float](repeating: 0, count: rows)
                average.withUnsafeMutableBufferPointer {
                    CrossAttention.averageTextToImageWeights(workspace, into: VectorView($0.baseAddress!, count: rows))
                }
                #expect(abs(average.reduce(0, +) - 1) < 1e-5 && average.allSatisfy { $0 > 0 })
            }
        }
    }

    /// Two fragments `(1, 0)`, `(0, 1)` and one word `(1, 0)`, worked by hand: text-to-image with `λ1 = ln 3` gives
    /// `α = (3/4, 1/4)`, `a = (3/4, 1/4)`, `S_t2i = 3/√10`; image-to-text attends to the only word, `R' = (1, 0)`, and
    /// with `λ2 = ln 2`, `S_i2t = log(2 + 1) / ln 2 = log2 3`.
    @Test func handComputedCase() {
        let temperatures = CrossAttention.Temperatures(
            textToImage: Float(log(3.0)),
            imageToText: 4,
            pooling: Float(log(2.0))
        )
        Self.withViews([1, 0, 0, 1], [1, 0], d: 2) { f, e in
            let workspace = CrossAttentionWorkspace(fragmentCapacity: 2, wordCapacity: 1, dimension: 2)
            let scores = CrossAttention.forward(
                fragments: f,
                words: e,
                temperatures: temperatures,
                workspace: workspace
            )
            #expect(abs(workspace.t2iWeights[0][0] - 0.75) < 1e-6 && abs(workspace.t2iWeights[0][1] - 0.25) < 1e-6)
            #expect(abs(workspace.t2iAttended[0][0] - 0.75) < 1e-6 && abs(workspace.t2iAttended[0][1] - 0.25) < 1e-6)
            #expect(abs(scores.textToImage - Float(3 / 10.0.squareRoot())) < 1e-6)
            #expect(workspace.i2tWeights[0][0] == 1 && workspace.i2tWeights[1][0] == 1)
            #expect(abs(workspace.i2tRelevances[0] - 1) < 1e-6 && abs(workspace.i2tRelevances[1]) < 1e-6)
            #expect(abs(scores.imageToText - Float(log2(3.0))) < 1e-5)
        }
    }

    /// The platform-independent logarithm agrees with the C library's to Double precision.
    @Test func logarithmMatchesTheCLibrary() {
        for value: Double in [
            Double.leastNormalMagnitude / 1024, 1e-30, 0.001, 0.5, 0.7071, 1, 1.4142, 1.5, 2, 10, 12_345.678, 1e30,
            1e300,
        ] {
            #expect(abs(value.logApprox - log(value)) <= 1e-15 * max(1, abs(log(value))), "ln \(value)")
        }
        #expect(Double(0).logApprox == -.infinity && Double(-1).logApprox.isNaN)
        #expect(Float(2).logValue == Float(log(2.0)))
    }
}
