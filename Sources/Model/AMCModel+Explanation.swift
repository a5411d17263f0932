// MARK: - Explanations: what a score attended to

extension AMCModel {
    /// The name of `β_v` among an explanation's mixing weights (the `visual_weight` of a scored image).
    public static let visualWeightName = "visual"
    /// The name of `β_k` among an explanation's mixing weights (the `language_weight` of a scored image).
    public static let languageWeightName = "language"

    /// Scores one image and explains the score: `β_v`, `β_k`, the region attention `α` and the keyword attention `λ`
    /// read out of the same forward pass that computed the score.
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - image: The image features.
    /// - Returns: The explanation; its score is bit-identical to ``score(query:images:)``'s.
    public func explain(query: EncodedQuery, image: ImageFeatures) -> ScoreExplanation {
        explain(query: query, images: [image])[0]
    }

    /// Scores and explains many images for one query (see ``explain(query:image:)``).
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - images: The candidate images.
    /// - Returns: One explanation per image, in input order.
    public func explain(query: EncodedQuery, images: [ImageFeatures]) -> [ScoreExplanation] {
        forwardEach(query: query, images) { engine, _ in engine.explanation(slot: 0) }
    }

    /// Scores one pre-encoded image and explains the score (see ``explain(query:image:)``).
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - encodedImage: An image encoded by this model (or one with the same image encoders).
    /// - Returns: The explanation; its score is bit-identical to ``score(query:encodedImages:)``'s.
    public func explain(query: EncodedQuery, encodedImage: EncodedImage) -> ScoreExplanation {
        explain(query: query, encodedImages: [encodedImage])[0]
    }

    /// Scores and explains many pre-encoded images for one query (see ``explain(query:image:)``).
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - encodedImages: Images encoded by this model (or one with the same image encoders).
    /// - Returns: One explanation per image, in input order.
    public func explain(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoreExplanation] {
        forwardEach(query: query, encodedImages) { engine, _ in engine.explanation(slot: 0) }
    }
}

extension Engine {
    /// The explanation of the image in slot `index`, read from its last forward pass.
    fileprivate func explanation(slot index: Int) -> ScoreExplanation {
        let info = infos[index]
        let (alpha, lambda) = attentionWeights(slot: index)
        return ScoreExplanation(
            architecture: AMCWeights.architecture,
            score: info.score,
            mixingWeights: [
                ScoreExplanation.MixingWeight(name: AMCModel.visualWeightName, weight: info.betaV),
                ScoreExplanation.MixingWeight(name: AMCModel.languageWeightName, weight: info.betaK),
            ],
            regionAttention: alpha.isEmpty ? nil : ScoreExplanation.GridAttention(weights: Array(alpha)),
            keywordAttention: ScoreExplanation.ItemWeight.ranked(lambda)
        )
    }
}
