// MARK: - Scoring and explanations

extension AMSModel {
    /// Scores encoded images: `S = Σ_s b̃_s S_s`, with the visual scales' total weight as `visualWeight` and the
    /// keyword scale's as `languageWeight`.
    public func score(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoredImage] {
        var results: [ScoredImage] = []
        results.reserveCapacity(encodedImages.count)
        forEachScore(query: query, encodedImages: encodedImages, visit: nil) { index, score, weights in
            let language = weights[Scale.keywords.rawValue]
            results.append(
                ScoredImage(index: index, score: score, visualWeight: 1 - language, languageWeight: language)
            )
        }
        return results
    }

    /// Explains each score: the effective scale weights `b̃` as mixing weights (`regions`, `grid2x2`, `global`,
    /// `keywords`; 0 for a scale the image lacks), the region cells' attention and the keywords' attention (per word
    /// the positive part's softmax over the scale's fragments, or the relevance softmax when no fragment exceeds
    /// `t`, averaged over the query words).
    public func explain(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoreExplanation] {
        var results: [ScoreExplanation] = []
        var regionAttention: [Float]?
        var keywordAttention: [Float] = []
        let wordCount = query.terms.count - 4
        forEachScore(
            query: query,
            encodedImages: encodedImages,
            visit: { scale, fragmentCount, scratch in
                switch scale {
                case .regions: regionAttention = scratch.attention(words: wordCount, fragments: fragmentCount)
                case .keywords: keywordAttention = scratch.attention(words: wordCount, fragments: fragmentCount)
                default: break
                }
            },
            body: { _, score, weights in
                results.append(
                    ScoreExplanation(
                        architecture: Self.architecture,
                        score: score,
                        mixingWeights: Scale.allCases.map {
                            ScoreExplanation.MixingWeight(name: $0.name, weight: weights[$0.rawValue])
                        },
                        regionAttention: regionAttention.map { ScoreExplanation.GridAttention(weights: $0) },
                        keywordAttention: ScoreExplanation.ItemWeight.ranked(keywordAttention)
                    )
                )
                regionAttention = nil
                keywordAttention = []
            }
        )
        return results
    }

    /// True when `other` is an AMS model with the same dimensions, λ and image-side tensors (`E_k`, `b_k`, `W_r`,
    /// `b_r`, `W_g`, `b_g`, `W_m`, `b_m`): images it encoded score the same under `other`.
    public func sharesImageEncodings(with other: any ScoringModel) -> Bool {
        guard let other = other as? AMSModel else { return false }
        let imageSide: [Tensor] = [
            .keywordEmbedding, .keywordBias, .regionWeight, .regionBias, .gridWeight, .gridBias, .globalWeight,
            .globalBias,
        ]
        return hashBuckets == other.hashBuckets && embeddingDimension == other.embeddingDimension
            && regionDimension == other.regionDimension && imageSide.allSatisfy { self[$0] == other[$0] }
    }

    /// `b̃`: the softmax of the query's scale logits over the scales present (R and K given); over all four when
    /// none is.
    func scaleWeights(_ logits: SIMD4<Float>, regionCount: Int, keywordCount: Int) -> SIMD4<Float> {
        var present = SIMD4<Float>()
        for scale in Scale.allCases
        where scale.fragmentCount(regionCount: regionCount, keywordCount: keywordCount) > 0 {
            present[scale.rawValue] = 1
        }
        if present == SIMD4<Float>() { present = SIMD4(repeating: 1) }
        var top = -Float.infinity
        for s in 0..<4 where present[s] != 0 { top = max(top, logits[s]) }
        var weights = SIMD4<Float>()
        var sum: Float = 0
        for s in 0..<4 where present[s] != 0 {
            weights[s] = (logits[s] - top).expValue
            sum += weights[s]
        }
        for s in 0..<4 { weights[s] /= sum }
        return weights
    }

    /// `S = Σ_s b̃_s S_s`, summed in scale order (an absent scale adds `0 · 0`).
    static func combine(_ weights: SIMD4<Float>, _ scales: SIMD4<Float>) -> Float {
        var score: Float = 0
        for s in 0..<4 { score += weights[s] * scales[s] }
        return score
    }

    /// The forward loop shared by scoring and explaining: one scratch for the call, each image's scales scored in
    /// place from its block. `visit` sees each scale's scratch right after its forward pass; `body` gets each
    /// image's index, score and effective scale weights, in order.
    func forEachScore(
        query: EncodedQuery,
        encodedImages: [EncodedImage],
        visit: ((Scale, Int, NegativeAwareScratch) -> Void)?,
        body: (Int, Float, SIMD4<Float>) -> Void
    ) {
        let d = embeddingDimension
        let wordCount = query.terms.count - 4
        precondition(wordCount >= 0 && query.vector.count == wordCount * d, "query encoded by another architecture")
        let logits = SIMD4(query.terms[0], query.terms[1], query.terms[2], query.terms[3])
        var largest = 1
        for image in encodedImages {
            for scale in Scale.allCases {
                largest = max(
                    largest,
                    scale.fragmentCount(regionCount: image.regionCount, keywordCount: image.keywordCount)
                )
            }
        }
        let scratch = NegativeAwareScratch(words: wordCount, fragments: largest, dimension: d)
        let matching = matching
        let thresholds = parameters.tensors[Tensor.thresholds.index].values
        query.vector.withUnsafeBufferPointer { vector in
            query.terms.withUnsafeBufferPointer { norms in
                let words = MatrixView(
                    vector.baseAddress ?? UnsafePointer(scratch.contexts),
                    rows: wordCount,
                    columns: d
                )
                let wordNorms = norms.baseAddress! + 4
                for (index, image) in encodedImages.enumerated() {
                    let (r, k) = (image.regionCount, image.keywordCount)
                    var total = 0
                    for scale in Scale.allCases { total += scale.fragmentCount(regionCount: r, keywordCount: k) }
                    precondition(image.count == total * d, "image encoded by another architecture or dimensions")
                    let weights = scaleWeights(logits, regionCount: r, keywordCount: k)
                    var scales = SIMD4<Float>()
                    image.withValues { block in
                        var offset = 0
                        for scale in Scale.allCases {
                            let n = scale.fragmentCount(regionCount: r, keywordCount: k)
                            guard n > 0 else { continue }
                            let fragments = MatrixView(block + offset, rows: n, columns: d)
                            offset += n * d
                            scales[scale.rawValue] = matching.forward(
                                fragments: fragments,
                                words: words,
                                wordNorms: wordNorms,
                                threshold: thresholds[scale.rawValue],
                                scratch: scratch
                            )
                            if wordCount > 0 { visit?(scale, n, scratch) }
                        }
                    }
                    body(index, Self.combine(weights, scales), weights)
                }
            }
        }
    }
}
