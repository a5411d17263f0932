import Model

/// The wire form of a ``Model/ScoreExplanation``: the `explanation` of a `POST /v1/score` result when the request
/// says `"explain": true`, and of `amc explain --json` (`Docs/serving.md`, `Docs/openapi.yaml`).
///
/// ```json
/// {"architecture": "amc", "mixing_weights": {"language": 0.38, "visual": 0.62},
///  "region_attention": {"rows": 4, "columns": 4, "weights": [0.05, …]},
///  "keyword_attention": [{"keyword": "baby", "weight": 0.41}, …], "keyword_count": 12}
/// ```
///
/// Keywords are named by their catalog strings, heaviest first, at most ``keywordLimit`` of them;
/// `region_attention` is `null` when the score did not attend over regions.
public struct ExplanationBody: Encodable, Sendable, Hashable {
    /// The most keywords listed (the heaviest; `keyword_count` says how many there were).
    public static let keywordLimit = 10

    /// The architecture that computed the score (`"amc"`).
    public var architecture: String
    /// The named weights that mixed the architecture's branches (AMC: `visual` = `β_v`, `language` = `β_k`).
    public var mixingWeights: [String: Float]
    /// The attention over the region grid, nil when the score did not attend over regions.
    public var regionAttention: RegionAttention?
    /// The heaviest keywords by attention, at most ``keywordLimit``; ties keep the catalog's keyword order.
    public var keywordAttention: [KeywordWeight]
    /// How many keywords the attention was over (0 when it did not attend over keywords).
    public var keywordCount: Int

    /// Attention over the image's region grid (row-major; see ``Model/ScoreExplanation/GridAttention``).
    public struct RegionAttention: Encodable, Sendable, Hashable {
        /// Number of rows.
        public var rows: Int
        /// Number of columns.
        public var columns: Int
        /// `rows × columns` weights, row-major, summing to 1.
        public var weights: [Float]

        /// Creates a region attention.
        public init(rows: Int, columns: Int, weights: [Float]) {
            self.rows = rows
            self.columns = columns
            self.weights = weights
        }
    }

    /// One keyword and its attention weight.
    public struct KeywordWeight: Encodable, Sendable, Hashable {
        /// The keyword, as in the catalog.
        public var keyword: String
        /// Its attention weight `λ`.
        public var weight: Float

        /// Creates a keyword weight.
        public init(keyword: String, weight: Float) {
            self.keyword = keyword
            self.weight = weight
        }
    }

    /// Creates an explanation body from its parts.
    public init(
        architecture: String,
        mixingWeights: [String: Float],
        regionAttention: RegionAttention?,
        keywordAttention: [KeywordWeight],
        keywordCount: Int
    ) {
        self.architecture = architecture
        self.mixingWeights = mixingWeights
        self.regionAttention = regionAttention
        self.keywordAttention = keywordAttention
        self.keywordCount = keywordCount
    }

    /// The wire form of `explanation` for an image with these keywords.
    /// - Parameters:
    ///   - explanation: The model's explanation of the image's score.
    ///   - keywords: The image's keywords in catalog order (the ones its explanation's indices refer to).
    ///   - keywordLimit: The most keywords to list.
    public init(_ explanation: ScoreExplanation, keywords: [String], keywordLimit: Int = Self.keywordLimit) {
        architecture = explanation.architecture
        mixingWeights = Dictionary(
            explanation.mixingWeights.map { ($0.name, $0.weight) },
            uniquingKeysWith: { first, _ in first }
        )
        regionAttention = explanation.regionAttention.map {
            RegionAttention(rows: $0.rows, columns: $0.columns, weights: $0.weights)
        }
        keywordAttention = explanation.keywordAttention.prefix(max(0, keywordLimit)).map { item in
            precondition(item.index < keywords.count, "an explained keyword is not among the image's keywords")
            return KeywordWeight(keyword: keywords[item.index], weight: item.weight)
        }
        keywordCount = explanation.keywordAttention.count
    }

    private enum CodingKeys: String, CodingKey {
        case architecture
        case mixingWeights = "mixing_weights"
        case regionAttention = "region_attention"
        case keywordAttention = "keyword_attention"
        case keywordCount = "keyword_count"
    }

    /// Like the synthesized encoding, but `region_attention` is always present (`null` without one).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(architecture, forKey: .architecture)
        try container.encode(mixingWeights, forKey: .mixingWeights)
        try container.encode(regionAttention, forKey: .regionAttention)
        try container.encode(keywordAttention, forKey: .keywordAttention)
        try container.encode(keywordCount, forKey: .keywordCount)
    }
}

extension ScoringResult.Item {
    /// A result with its explanation.
    /// - Parameters:
    ///   - image: The image key.
    ///   - scored: The image's score and modality weights from the model's scoring.
    ///   - explanation: The model's explanation of that score.
    ///   - keywords: The image's keywords in catalog order.
    public init(image: String, scored: ScoredImage, explanation: ScoreExplanation, keywords: [String]) {
        self.init(
            image: image,
            score: scored.score,
            visualWeight: scored.visualWeight,
            languageWeight: scored.languageWeight,
            explanation: ExplanationBody(explanation, keywords: keywords)
        )
    }
}
