// MARK: - Pre-encoded images (the scoring workers' fast path)

extension AMCModel {
    /// Runs the query-independent part of the forward pass for one image: the region and keyword encoders and the
    /// image side of both attentions.
    /// - Parameter image: The image features; `regions.count` must be `regionCount × regionDimension`.
    /// - Returns: The encodings, reusable for every query scored by this model.
    public func encodeImage(_ image: ImageFeatures) -> EncodedImage {
        encodeImages([image])[0]
    }

    /// Encodes many images with one scratch buffer (see ``encodeImage(_:)``).
    /// - Parameter images: The image features.
    /// - Returns: One ``EncodedImage`` per image, in input order.
    public func encodeImages(_ images: [ImageFeatures]) -> [EncodedImage] {
        let c = configuration
        let d = c.embeddingDimension
        let a = c.attentionDimension
        var total = 0
        for image in images {
            precondition(
                image.regions.count == image.regionCount * c.regionDimension,
                "regions must be regionCount × regionDimension"
            )
            total += (image.regionCount + image.keywords.count) * (a + d)
        }
        let storage = EncodedImageStorage(count: total)
        var scratch = EngineScratch(c, gradientCount: 0, slots: 1, regions: 0, keywords: 0)
        var offset = 0
        return scratch.withEngine(packed, mode: mode, margin: c.margin) { engine, _ in
            images.map { image in
                let r = image.regionCount
                let kc = image.keywords.count
                // A_v v_i (R × a) | v_i (R × d) | B_k k_j (K × a) | k_j (K × d)
                let base = storage.base + offset
                let regions = base + r * a
                let keywordProjections = base + r * (a + d)
                let keywords = keywordProjections + kc * a
                if r > 0 {
                    engine.encodeRegions(image.regions, count: r, into: regions)
                    engine.projectRegions(regions, count: r, into: base)
                }
                if kc > 0 {
                    engine.encodeKeywords(image.keywords, into: keywords)
                    engine.projectKeywords(keywords, count: kc, into: keywordProjections)
                }
                let encoded = EncodedImage(
                    regionCount: r,
                    keywordCount: kc,
                    storage: storage,
                    offset: offset,
                    count: (r + kc) * (a + d)
                )
                offset += (r + kc) * (a + d)
                return encoded
            }
        }
    }

    /// Scores pre-encoded images for one encoded query: only the query-dependent work (VAN, LAN, MTN, cosine).
    ///
    /// Bit-identical to ``score(query:images:)`` on the features the images were encoded from.
    /// - Parameters:
    ///   - query: The encoded query.
    ///   - encodedImages: Images encoded by this model (or one with the same encoders).
    /// - Returns: One ``ScoredImage`` per image, in input order (`index` is the position).
    public func score(query: EncodedQuery, encodedImages: [EncodedImage]) -> [ScoredImage] {
        forwardEach(query: query, encodedImages) { engine, index in engine.scoredImage(slot: 0, index: index) }
    }

    /// Whether images encoded by this model stay valid for `other`: same dimensions and identical image-side
    /// tensors — the region and keyword encoders and the attentions' image projections (true after MTN-only
    /// fine-tuning).
    public func sharesImageEncoders(with other: AMCModel) -> Bool {
        configuration == other.configuration
            && AMCTensor.imageEncoders.allSatisfy { weights[$0] == other.weights[$0] }
    }
}

extension EncodedImage {
    /// The parts of an AMC-encoded block in the block's order — `A_v v` (R × a), `v` (R × d), `B_k k` (K × a),
    /// `k` (K × d) — as views made by `view(start, rows, columns)` (`start` in elements from the block's start).
    private func amcParts<View>(
        embeddingDimension d: Int,
        attentionDimension a: Int,
        _ view: (_ start: Int, _ rows: Int, _ columns: Int) -> View
    ) -> (View, View, View, View) {
        let (r, kc) = (regionCount, keywordCount)
        precondition(count == (r + kc) * (a + d), "image encoded by another architecture or dimensions")
        let keywordsStart = r * (a + d)
        return (view(0, r, a), view(r * a, r, d), view(keywordsStart, kc, a), view(keywordsStart + kc * a, kc, d))
    }

    /// The parts of an AMC-encoded image's block as float32 views (a compact block decoded first), for the
    /// duration of `body`.
    /// - Parameters:
    ///   - d: The embedding dimension of the model that reads it.
    ///   - a: Its attention dimension.
    ///   - body: Receives `A_v v` (R × a), `v` (R × d), `B_k k` (K × a), `k` (K × d).
    func withViews<Result>(
        embeddingDimension d: Int,
        attentionDimension a: Int,
        _ body: (
            _ regionProjections: MatrixView, _ regions: MatrixView, _ keywordProjections: MatrixView,
            _ keywords: MatrixView
        ) -> Result
    ) -> Result {
        withValues { base in
            let views = amcParts(embeddingDimension: d, attentionDimension: a) {
                MatrixView(base + $0, rows: $1, columns: $2)
            }
            return body(views.0, views.1, views.2, views.3)
        }
    }

    /// The same parts of a float16 block, read in place, for the duration of `body`.
    func withHalfViews<Result>(
        embeddingDimension d: Int,
        attentionDimension a: Int,
        _ body: (
            _ regionProjections: HalfMatrixView, _ regions: HalfMatrixView, _ keywordProjections: HalfMatrixView,
            _ keywords: HalfMatrixView
        ) -> Result
    ) -> Result {
        let base = storage.halves + offset
        let views = amcParts(embeddingDimension: d, attentionDimension: a) {
            HalfMatrixView(base + $0, rows: $1, columns: $2)
        }
        return withExtendedLifetime(storage) { body(views.0, views.1, views.2, views.3) }
    }
}

extension Engine {
    /// The query-dependent forward pass of an AMC-encoded image into slot `index` (the query must be loaded): the
    /// one reader of an encoded image's block, for scoring and explaining. A float16 block is read in place
    /// (converted as the kernels load it), any other is read as float32: the same bits for the same values.
    func forward(_ image: EncodedImage, slot index: Int, queryNorm: Float) {
        func run<Items: AttentionItems>(
            _ regionProjections: Items,
            _ regions: Items,
            _ keywordProjections: Items,
            _ keywords: Items
        ) {
            forward(
                slot: index,
                regions: regions,
                keywords: keywords,
                regionProjections: regionProjections,
                keywordProjections: keywordProjections,
                queryNorm: queryNorm
            )
        }
        if image.precision == .float16 {
            image.withHalfViews(embeddingDimension: d, attentionDimension: a) { run($0, $1, $2, $3) }
        } else {
            image.withViews(embeddingDimension: d, attentionDimension: a) { run($0, $1, $2, $3) }
        }
    }
}

extension AMCTensor {
    /// The tensors of the query-independent image-side work (``EncodedImage``).
    static let imageEncoders: [AMCTensor] = [
        .regionWeight, .regionBias, .keywordWeight, .keywordBias, .visualAttentionRegion, .keywordAttentionKeyword,
    ]
}
