/// Why a scoring model gave one image its score for one query: the weights its architecture mixed and attended with
/// in the forward pass that computed the score.
///
/// The shape is architecture-neutral. AMC fills it with its modality attention `β_v`, `β_k` as mixing weights, the
/// VAN's attention `α` over the region grid and the LAN's attention `λ` over the keywords (`Docs/model.md`); an
/// architecture that gates modalities or scales reports its gate weights as mixing weights, and attention over image
/// fragments or words as region or keyword attention.
public struct ScoreExplanation: Sendable, Hashable {
    /// The architecture that computed the score (``AMCWeights/architecture`` for AMC).
    public var architecture: String
    /// The score explained, bit-identical to the one the model's scoring reports for the same query and image.
    public var score: Float
    /// The weights that mixed the architecture's branches, in the architecture's order; they sum to 1.
    public var mixingWeights: [MixingWeight]
    /// The attention over the image's region grid; nil when the score did not attend over regions (the image has
    /// none, or the branch was not used).
    public var regionAttention: GridAttention?
    /// The attention over the image's keywords, heaviest first (ties by keyword position), one entry per keyword;
    /// empty when the score did not attend over keywords. The weights sum to 1.
    public var keywordAttention: [ItemWeight]

    /// Creates an explanation.
    /// - Parameters:
    ///   - architecture: The architecture's id.
    ///   - score: The score explained.
    ///   - mixingWeights: The named mixing weights.
    ///   - regionAttention: The attention over the region grid, if any.
    ///   - keywordAttention: The attention over the keywords, heaviest first.
    public init(
        architecture: String,
        score: Float,
        mixingWeights: [MixingWeight],
        regionAttention: GridAttention?,
        keywordAttention: [ItemWeight]
    ) {
        self.architecture = architecture
        self.score = score
        self.mixingWeights = mixingWeights
        self.regionAttention = regionAttention
        self.keywordAttention = keywordAttention
    }

    /// The mixing weight named `name`, if the architecture has one.
    /// - Parameter name: The weight's name (for AMC ``AMCModel/visualWeightName`` or ``AMCModel/languageWeightName``).
    public func mixingWeight(_ name: String) -> Float? {
        mixingWeights.first { $0.name == name }?.weight
    }
}

extension ScoreExplanation {
    /// One named mixing weight (for AMC: `visual` = `β_v`, `language` = `β_k`).
    public struct MixingWeight: Sendable, Hashable {
        /// The branch it weighs.
        public var name: String
        /// Its weight in [0, 1].
        public var weight: Float

        /// Creates a mixing weight.
        /// - Parameters:
        ///   - name: The branch it weighs.
        ///   - weight: Its weight.
        public init(name: String, weight: Float) {
            self.name = name
            self.weight = weight
        }
    }

    /// Attention over an image's grid of region cells.
    ///
    /// The cells are the image's regions in catalog order, which is row-major: cell `i` is at row `i / columns`,
    /// column `i % columns`. The catalog stores only the number of cells R, so the grid's shape is inferred
    /// (``shape(cellCount:)``): a square grid when R is a perfect square, else one row of R cells.
    public struct GridAttention: Sendable, Hashable {
        /// Number of rows.
        public var rows: Int
        /// Number of columns.
        public var columns: Int
        /// One weight per cell, row-major (`rows × columns` of them); they sum to 1.
        public var weights: [Float]

        /// Attention over `weights.count` cells, shaped by ``shape(cellCount:)``.
        /// - Parameter weights: One weight per cell, in cell order.
        public init(weights: [Float]) {
            (rows, columns) = Self.shape(cellCount: weights.count)
            self.weights = weights
        }

        /// The grid shape of R cells: `n × n` when `R = n²`, else `1 × R` (a single row in cell order: without a
        /// stored layout, guessing a rectangle could transpose it); `0 × 0` for no cells.
        /// - Parameter cellCount: R ≥ 0.
        /// - Returns: Rows and columns, `rows × columns == cellCount`.
        public static func shape(cellCount: Int) -> (rows: Int, columns: Int) {
            precondition(cellCount >= 0, "cellCount must be non-negative")
            if cellCount == 0 { return (0, 0) }
            var side = Int(Double(cellCount).squareRoot())
            while side * side > cellCount { side -= 1 }
            while (side + 1) * (side + 1) <= cellCount { side += 1 }
            return side * side == cellCount ? (side, side) : (1, cellCount)
        }

        /// The weight of the cell at `row`, `column`.
        public subscript(row: Int, column: Int) -> Float {
            precondition(row >= 0 && row < rows && column >= 0 && column < columns, "cell outside the grid")
            return weights[row * columns + column]
        }
    }

    /// The attention weight of one item (a keyword) by its position in the image's list.
    public struct ItemWeight: Sendable, Hashable {
        /// The item's position in the image's list (for keywords: the catalog's keyword order).
        public var index: Int
        /// Its attention weight in [0, 1].
        public var weight: Float

        /// Creates an item weight.
        /// - Parameters:
        ///   - index: The item's position.
        ///   - weight: Its weight.
        public init(index: Int, weight: Float) {
            self.index = index
            self.weight = weight
        }

        /// One entry per weight, heaviest first; equal weights keep their positions' order.
        /// - Parameter weights: The weights in item order.
        /// - Returns: The ranked items.
        public static func ranked(_ weights: some Sequence<Float>) -> [ItemWeight] {
            weights.enumerated().map { ItemWeight(index: $0.offset, weight: $0.element) }
                .sorted { $0.weight > $1.weight || ($0.weight == $1.weight && $0.index < $1.index) }
        }
    }
}
