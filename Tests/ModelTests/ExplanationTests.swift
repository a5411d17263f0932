import Model
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct ExplanationTests {
    /// Images of every shape the explanation must handle: no regions, one, a square grid, a non-square count; no
    /// keywords up to five (one repeated, so two keywords can tie).
    private func images(_ c: ModelConfiguration, _ rng: inout SplitMix64) -> [ImageFeatures] {
        let words = ["snooki", "baby", "bump", "beach", "red car", "kitten", "sunset"]
        return (0..<20).map { i in
            let regions = [0, 1, 4, 16, 6][i % 5]
            var keywords = (0..<(i % 6)).map { _ in words[Int(rng.next() % UInt64(words.count))] }
            if i == 11 { keywords = ["baby", "kitten", "baby"] }
            return makeImage(&rng, configuration: c, regionCount: regions, keywords: keywords)
        }
    }

    /// α and λ each sum to 1, match the equations of `Docs/model.md` computed directly, and the score and β are the
    /// scored ones bit for bit — from the raw features and from the serving path's encoded images.
    @Test(arguments: [ModalityMode.attention, .imageOnly, .keywordOnly])
    func explanationMatchesTheEquationsAndTheScore(mode: ModalityMode) throws {
        for c in [smallConfiguration(), ModelConfiguration()] {
            var rng = SplitMix64(seed: 7)
            let model = AMCModel(weights: AMCWeights(configuration: c, seed: 3), mode: mode)
            let images = images(c, &rng)
            let encoded = model.encodeImages(images)
            for text in ["snooki baby bur", "kitten", ""] {
                let query = model.encodeQuery(text)
                let scored = model.score(query: query, images: images)
                let explained = model.explain(query: query, images: images)
                let explainedEncoded = model.explain(query: query, encodedImages: encoded)
                #expect(explainedEncoded == explained)
                #expect(model.explain(query: query, image: images[3]) == explained[3])
                #expect(model.explain(query: query, encodedImage: encoded[3]) == explained[3])
                let reference = DirectAttention(
                    model.weights,
                    query: LetterTrigramHasher.encode(text, buckets: c.hashBuckets)
                )
                for (index, (image, (score, explanation))) in zip(images, zip(scored, explained)).enumerated() {
                    let context = Comment(rawValue: "mode \(mode), query '\(text)', image \(index)")
                    #expect(explanation.architecture == "amc")
                    #expect(explanation.score.bitPattern == score.score.bitPattern, context)
                    #expect(explanation.mixingWeights.map(\.name) == ["visual", "language"])
                    #expect(explanation.mixingWeight("visual")?.bitPattern == score.visualWeight.bitPattern, context)
                    #expect(
                        explanation.mixingWeight("language")?.bitPattern == score.languageWeight.bitPattern,
                        context
                    )

                    let attendsRegions = image.regionCount > 0 && mode != .keywordOnly
                    if attendsRegions {
                        let grid = try #require(explanation.regionAttention, context)
                        #expect(grid.rows * grid.columns == image.regionCount, context)
                        #expect(grid.weights.count == image.regionCount, context)
                        #expect(abs(grid.weights.reduce(0, +) - 1) < 1e-5, context)
                        let expected = reference.regionAttention(image)
                        for (actual, wanted) in zip(grid.weights, expected) {
                            #expect(abs(Double(actual) - wanted) < 1e-5, context)
                        }
                    } else {
                        #expect(explanation.regionAttention == nil, context)
                    }

                    let attendsKeywords = !image.keywords.isEmpty && mode != .imageOnly
                    if attendsKeywords {
                        let ranked = explanation.keywordAttention
                        #expect(ranked.map(\.index).sorted() == Array(image.keywords.indices), context)
                        #expect(abs(ranked.map(\.weight).reduce(0, +) - 1) < 1e-5, context)
                        for (earlier, later) in zip(ranked, ranked.dropFirst()) {
                            #expect(
                                earlier.weight > later.weight
                                    || (earlier.weight == later.weight && earlier.index < later.index),
                                context
                            )
                        }
                        let expected = reference.keywordAttention(image)
                        for item in ranked {
                            #expect(abs(Double(item.weight) - expected[item.index]) < 1e-5, context)
                        }
                    } else {
                        #expect(explanation.keywordAttention.isEmpty, context)
                    }
                }
            }
        }
    }

    /// The missing-modality rules of `Docs/model.md`: without keywords all visual, without regions all language,
    /// with neither `β_v = 1`, score 0 and no attention at all.
    @Test func missingModalities() {
        let c = smallConfiguration()
        var rng = SplitMix64(seed: 11)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 5))
        let query = model.encodeQuery("red car")
        let noKeywords = model.explain(
            query: query,
            image: makeImage(&rng, configuration: c, regionCount: 4, keywords: [])
        )
        #expect(noKeywords.mixingWeight("visual") == 1 && noKeywords.mixingWeight("language") == 0)
        #expect(noKeywords.regionAttention?.weights.count == 4 && noKeywords.keywordAttention.isEmpty)

        let noRegions = model.explain(
            query: query,
            image: makeImage(&rng, configuration: c, regionCount: 0, keywords: ["red", "car"])
        )
        #expect(noRegions.mixingWeight("visual") == 0 && noRegions.mixingWeight("language") == 1)
        #expect(noRegions.regionAttention == nil && noRegions.keywordAttention.count == 2)

        let empty = model.explain(query: query, image: makeImage(&rng, configuration: c, regionCount: 0, keywords: []))
        #expect(empty.score == 0 && empty.mixingWeight("visual") == 1 && empty.mixingWeight("language") == 0)
        #expect(empty.regionAttention == nil && empty.keywordAttention.isEmpty)
    }

    @Test func gridShapes() {
        typealias Grid = ScoreExplanation.GridAttention
        #expect(Grid.shape(cellCount: 16) == (4, 4))
        #expect(Grid.shape(cellCount: 1) == (1, 1))
        #expect(Grid.shape(cellCount: 49) == (7, 7))
        #expect(Grid.shape(cellCount: 196) == (14, 14))
        #expect(Grid.shape(cellCount: 6) == (1, 6))
        #expect(Grid.shape(cellCount: 15) == (1, 15))
        #expect(Grid.shape(cellCount: 0) == (0, 0))
        let grid = Grid(weights: (0..<9).map { Float($0) })
        #expect(grid.rows == 3 && grid.columns == 3 && grid[1, 2] == 5 && grid[2, 0] == 6)
    }

    @Test func keywordsRankHeaviestFirstAndTiesKeepTheirOrder() {
        let ranked = ScoreExplanation.ItemWeight.ranked([0.1, 0.4, 0.1, 0.4])
        #expect(ranked.map(\.index) == [1, 3, 0, 2])
    }
}

/// `Docs/model.md`'s VAN and LAN written out plainly, in `Double`, straight from the row-major weights:
/// `q = tanh(W_q x_q + b_q)`, `v_i = tanh(W_v r_i + b_v)`, `α = softmax_i(w_a · tanh(A_v v_i + A_q q))`, and
/// `k_j = tanh(W_k x_kj + b_k)`, `λ = softmax_j(w_l · tanh(B_k k_j + B_q q))`.
private struct DirectAttention {
    let weights: AMCWeights
    let q: [Double]

    init(_ weights: AMCWeights, query: SparseVector) {
        self.weights = weights
        q = Self.encodeSparse(query, matrix: weights.wq, bias: weights.bq, buckets: weights.configuration.hashBuckets)
    }

    var d: Int { weights.configuration.embeddingDimension }
    var a: Int { weights.configuration.attentionDimension }

    func regionAttention(_ image: ImageFeatures) -> [Double] {
        let dim = weights.configuration.regionDimension
        let cells = (0..<image.regionCount).map { i in
            (0..<d).map { row in
                var sum = Double(weights.bv[row])
                for col in 0..<dim {
                    sum += Double(weights.wv[row * dim + col]) * Double(image.regions[i * dim + col])
                }
                return tanh(sum)
            }
        }
        return softmax(cells.map { logit($0, item: weights.av, query: weights.aq, score: weights.wa) })
    }

    func keywordAttention(_ image: ImageFeatures) -> [Double] {
        let buckets = weights.configuration.hashBuckets
        let keywords = image.keywords.map {
            Self.encodeSparse($0, matrix: weights.wk, bias: weights.bk, buckets: buckets)
        }
        return softmax(
            keywords.map { logit($0, item: weights.bkAttention, query: weights.bqAttention, score: weights.wl) }
        )
    }

    /// `w · tanh(P x + Q q)` with `P`, `Q` row-major a × d.
    private func logit(_ x: [Double], item p: [Float], query qMatrix: [Float], score w: [Float]) -> Double {
        var logit = 0.0
        for row in 0..<a {
            var sum = 0.0
            for col in 0..<d {
                sum += Double(p[row * d + col]) * x[col] + Double(qMatrix[row * d + col]) * q[col]
            }
            logit += Double(w[row]) * tanh(sum)
        }
        return logit
    }

    private func softmax(_ logits: [Double]) -> [Double] {
        let top = logits.max() ?? 0
        let exps = logits.map { exp($0 - top) }
        let total = exps.reduce(0, +)
        return exps.map { $0 / total }
    }

    /// `tanh(M x + b)` for a sparse `x`, `M` row-major d × buckets.
    private static func encodeSparse(_ x: SparseVector, matrix: [Float], bias: [Float], buckets: Int) -> [Double] {
        bias.indices.map { row in
            var sum = Double(bias[row])
            for (index, count) in zip(x.indices, x.counts) {
                sum += Double(matrix[row * buckets + Int(index)]) * Double(count)
            }
            return tanh(sum)
        }
    }
}
