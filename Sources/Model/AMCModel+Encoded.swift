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
        var scratch = EngineScratch(c, gradientCount: 0, slots: 1, regions: 0, keywords: 0)
        return scratch.withEngine(packed, mode: mode, margin: c.margin) { engine, _ in
            images.map { image in
                let r = image.regionCount
                let kc = image.keywords.count
                precondition(
                    image.regions.count == r * c.regionDimension,
                    "regions must be regionCount × regionDimension"
                )
                // One block: v (R × d) | k (K × d) | A_v v (R × a) | B_k k (K × a).
                let values = [Float](unsafeUninitializedCapacity: (r + kc) * (d + a)) { buffer, count in
                    let v = buffer.baseAddress!
                    let k = v + r * d
                    let pv = k + kc * d
                    let pk = pv + r * a
                    if r > 0 {
                        engine.encodeRegions(image.regions, count: r, into: v)
                        engine.projectRegions(v, count: r, into: pv)
                    }
                    if kc > 0 {
                        engine.encodeKeywords(image.keywords, into: k)
                        engine.projectKeywords(k, count: kc, into: pk)
                    }
                    count = (r + kc) * (d + a)
                }
                return EncodedImage(regionCount: r, keywordCount: kc, values: values)
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
        var regions = 0
        var keywords = 0
        for image in encodedImages {
            regions = max(regions, image.regionCount)
            keywords = max(keywords, image.keywordCount)
        }
        let c = configuration
        var scratch = EngineScratch(c, gradientCount: 0, slots: 1, regions: regions, keywords: keywords)
        var result: [ScoredImage] = []
        result.reserveCapacity(encodedImages.count)
        scratch.withEngine(packed, mode: mode, margin: c.margin) { engine, _ in
            precondition(isOwnEncoding(query), "query encoded by another architecture or dimensions")
            engine.load(query)
            for (i, image) in encodedImages.enumerated() {
                engine.forward(image, slot: 0, queryNorm: query.norm)
                let info = engine.infos[0]
                result.append(
                    ScoredImage(index: i, score: info.score, visualWeight: info.betaV, languageWeight: info.betaK)
                )
            }
        }
        return result
    }

    /// Whether images encoded by this model stay valid for `other`: same dimensions and identical image-side
    /// tensors — the region and keyword encoders and the attentions' image projections (true after MTN-only
    /// fine-tuning).
    public func sharesImageEncoders(with other: AMCModel) -> Bool {
        configuration == other.configuration
            && AMCTensor.imageEncoders.allSatisfy { weights[$0] == other.weights[$0] }
    }
}

extension Engine {
    /// The query-dependent forward pass of one AMC-encoded image into slot `index` (the query must be in the
    /// workspace): the image's block is `v` (R × d) | `k` (K × d) | `A_v v` (R × a) | `B_k k` (K × a).
    func forward(_ image: EncodedImage, slot index: Int, queryNorm: Float) {
        let (r, kc) = (image.regionCount, image.keywordCount)
        precondition(image.values.count == (r + kc) * (d + a), "image encoded by another architecture")
        image.values.withUnsafeBufferPointer { block in
            // An empty block stands in for every part of an image without regions and keywords (never read: a
            // zero count turns its branch off).
            let v = block.baseAddress ?? UnsafePointer(s)
            forward(
                slot: index,
                regions: v,
                regionCount: r,
                keywords: v + r * d,
                keywordCount: kc,
                regionProjections: v + (r + kc) * d,
                keywordProjections: v + (r + kc) * d + r * a,
                queryNorm: queryNorm
            )
        }
    }
}

extension AMCTensor {
    /// The tensors of the query-independent image-side work (``EncodedImage``).
    static let imageEncoders: [AMCTensor] = [
        .regionWeight, .regionBias, .keywordWeight, .keywordBias, .visualAttentionRegion, .keywordAttentionKeyword,
    ]
}
