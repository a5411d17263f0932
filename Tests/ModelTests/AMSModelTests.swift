import Testing

@testable import Model

@Suite struct AMSModelTests {
    /// The small AMS dimensions of the gradient checks (H = 64, d = 8, D = 6).
    static func smallHyperParameters(margin: Double = 0.2) -> [String: Double] {
        ["H": 64, "d": 8, "D": 6, "margin": margin]
    }

    /// A small model; `online` moves the scale gate and thresholds away from their start (uneven weights that
    /// depend on the query, some words' best match below `t`), so their gradients and the mix are not symmetric.
    static func model(seed: UInt64, margin: Double = 0.2, online: Bool = true) throws -> AMSModel {
        var parameters = try AMSModel.initialParameters(
            seed: seed,
            hyperParameters: smallHyperParameters(margin: margin)
        )
        if online {
            var rng = SplitMix64(seed: seed &+ 99)
            for index in parameters.tensors.indices {
                switch parameters.tensors[index].name {
                case "scale_logits", "scale_gate":
                    for i in parameters.tensors[index].values.indices {
                        parameters.tensors[index].values[i] = rng.nextSymmetric(0.8)
                    }
                case "t":
                    for i in 0..<4 { parameters.tensors[index].values[i] = 0.3 + rng.nextSymmetric(0.2) }
                default:
                    break
                }
            }
        }
        return try AMSModel(parameters: parameters)
    }

    static func example(_ rng: inout SplitMix64, caseIndex: Int) -> TrainingExample {
        let c = smallConfiguration()
        let query = QueryInput("snooki baby bump", buckets: 64)
        // Case 0: square grids (3×3 pools unevenly); case 1 a negative without keywords and a non-square one;
        // case 2 a negative without regions.
        let positive = makeImage(&rng, configuration: c, regionCount: 9, keywords: ["snooki", "baby", "beach"])
        let negatives = [
            makeImage(&rng, configuration: c, regionCount: 4, keywords: caseIndex == 1 ? [] : ["red car", "bump"]),
            makeImage(
                &rng,
                configuration: c,
                regionCount: [4, 3, 0][caseIndex],
                keywords: ["kitten", "snow", "baby bump"]
            ),
        ]
        return TrainingExample(query: query, positive: positive, negatives: negatives)
    }

    /// Central differences in Float (ε = 1e-3) against the hand-written backward pass, for every tensor; the
    /// embedding tables' gradients are exactly the rows of the example's buckets.
    @Test(arguments: [0, 1, 2])
    func analyticGradientMatchesFiniteDifferences(caseIndex: Int) throws {
        // margin 4 keeps every hinge term active (|S| ≤ 3), so the loss is smooth around the test point.
        let model = try Self.model(seed: 42 + UInt64(caseIndex), margin: 4)
        var rng = SplitMix64(seed: 0xFACE + UInt64(caseIndex))
        let example = Self.example(&rng, caseIndex: caseIndex)
        let analytic = model.lossAndGradients(for: example, scope: .all)
        #expect(analytic.loss > 0)
        #expect(analytic.loss == model.loss(for: example))
        let images = [example.positive] + example.negatives
        let queryRows = Set(example.queryWords.flatMap(\.indices).map(Int.init))
        let keywordRows = Set(images.flatMap(\.keywords).flatMap(\.indices).map(Int.init))
        #expect(Set(analytic.gradients.sparse["E_q"]?.rows ?? []) == queryRows)
        #expect(Set(analytic.gradients.sparse["E_k"]?.rows ?? []) == keywordRows)
        #expect(Set(analytic.gradients.dense.keys).count == AMSModel.Tensor.allCases.count - 2)

        for tensor in AMSModel.Tensor.allCases {
            let entries = Self.sampledEntries(
                of: tensor,
                in: model,
                queryRows: queryRows,
                keywordRows: keywordRows,
                &rng
            )
            let magnitude = try expectGradientMatchesCentralDifferences(
                model,
                tensor: tensor.index,
                entries: entries,
                example: example,
                analytic: analytic.gradients,
                slack: 3e-3
            )
            #expect(magnitude > 0, "\(tensor.rawValue): sampled gradient entries are all zero")
        }
    }

    /// The entries of `tensor` a finite-difference check samples: rows the example touches for the embeddings,
    /// every scale's for the per-scale tensors, a spread of the gate, and the ends plus random ones elsewhere.
    private static func sampledEntries(
        of tensor: AMSModel.Tensor,
        in model: AMSModel,
        queryRows: Set<Int>,
        keywordRows: Set<Int>,
        _ rng: inout SplitMix64
    ) -> [Int] {
        let stored = model.parameters.tensors[tensor.index]
        switch tensor {
        case .queryEmbedding, .keywordEmbedding:
            let rows = (tensor == .queryEmbedding ? queryRows : keywordRows).sorted()
            return (0..<6).map { k in rows[(k * 5) % rows.count] * stored.columns + Int(rng.next() % 8) }
        case .scaleLogits, .thresholds:
            return [0, 1, 2, 3]
        case .scaleGate:
            return [0, 9, 18, 31]
        default:
            let count = stored.values.count
            return [0, count - 1] + (0..<4).map { _ in Int(rng.next() % UInt64(count)) }
        }
    }

    /// With auxiliary per-scale hinges at weight w, central differences of `L + w Σ_s L_s` match the backward pass
    /// for every tensor; the returned loss is `L` alone, and the scale gate's gradient is `L`'s alone (the
    /// auxiliary terms do not reach it), while the thresholds' is not.
    @Test(arguments: [0, 1, 2])
    func auxiliaryScaleLossGradientMatchesFiniteDifferences(caseIndex: Int) throws {
        let weight: Float = 0.5
        let model = try Self.model(seed: 42 + UInt64(caseIndex), margin: 4)
        var rng = SplitMix64(seed: 0xFACE + UInt64(caseIndex))
        let example = Self.example(&rng, caseIndex: caseIndex)
        let analytic = model.lossAndGradients(for: example, scope: .all, auxiliaryWeight: weight)
        let plain = model.lossAndGradients(for: example, scope: .all)
        #expect(analytic.loss == model.loss(for: example))
        #expect(model.scaleLosses(for: example).allSatisfy { $0 > 0 })
        for name in ["scale_gate", "scale_logits"] {
            #expect(analytic.gradients.dense[name]?.map(\.bitPattern) == plain.gradients.dense[name]?.map(\.bitPattern))
        }
        #expect(analytic.gradients.dense["t"] != plain.gradients.dense["t"])
        let images = [example.positive] + example.negatives
        let queryRows = Set(example.queryWords.flatMap(\.indices).map(Int.init))
        let keywordRows = Set(images.flatMap(\.keywords).flatMap(\.indices).map(Int.init))
        #expect(Set(analytic.gradients.sparse["E_q"]?.rows ?? []) == queryRows)
        #expect(Set(analytic.gradients.sparse["E_k"]?.rows ?? []) == keywordRows)

        for tensor in AMSModel.Tensor.allCases {
            let entries = Self.sampledEntries(
                of: tensor,
                in: model,
                queryRows: queryRows,
                keywordRows: keywordRows,
                &rng
            )
            let magnitude = try expectGradientMatchesCentralDifferences(
                model,
                tensor: tensor.index,
                entries: entries,
                example: example,
                analytic: analytic.gradients,
                slack: 3e-3,
                objective: { model, example in
                    model.loss(for: example) + weight * model.scaleLosses(for: example).reduce(0, +)
                }
            )
            #expect(magnitude > 0, "\(tensor.rawValue): sampled gradient entries are all zero")
        }
    }

    /// Each scale's auxiliary hinge is `Σ_t max(0, margin − S_s(pos) + S_s(neg_t))` over the negatives that have the
    /// scale, with `S_s` computed directly by the matching kernel on the image's fragments of that scale; a scale the
    /// positive lacks, or an empty query, has none.
    @Test func scaleLossesAreEachScalesOwnHinge() throws {
        let model = try Self.model(seed: 21, margin: 0.3)
        var rng = SplitMix64(seed: 22)
        let d = 8
        func scaleScore(_ image: ImageFeatures, _ scale: AMSModel.Scale, words: AMSModel.EncodedWords) -> Float? {
            let fragments = model.encode(image).fragments[scale.rawValue]
            let n = fragments.count / d
            guard n > 0 else { return nil }
            let scratch = NegativeAwareScratch(words: words.count, fragments: n, dimension: d)
            return fragments.withUnsafeBufferPointer { f in
                words.words.withUnsafeBufferPointer { e in
                    words.norms.withUnsafeBufferPointer { norms in
                        model.matching.forward(
                            fragments: MatrixView(f.baseAddress!, rows: n, columns: d),
                            words: MatrixView(e.baseAddress!, rows: words.count, columns: d),
                            wordNorms: norms.baseAddress!,
                            threshold: model[.thresholds][scale.rawValue],
                            scratch: scratch
                        )
                    }
                }
            }
        }
        var active = 0
        for caseIndex in 0..<3 {
            var example = Self.example(&rng, caseIndex: caseIndex)
            // Case 2: a positive without keywords (its keyword scale has no hinge).
            if caseIndex == 2 { example.positive.keywords = [] }
            let words = model.encodeWords(example.queryWords)
            let losses = model.scaleLosses(for: example)
            for scale in AMSModel.Scale.allCases {
                var expected: Float = 0
                if let positive = scaleScore(example.positive, scale, words: words) {
                    for negative in example.negatives {
                        guard let score = scaleScore(negative, scale, words: words) else { continue }
                        expected += max(0, 0.3 - positive + score)
                    }
                }
                #expect(abs(losses[scale.rawValue] - expected) < 1e-5, "case \(caseIndex), \(scale.name)")
                if expected > 0 { active += 1 }
            }
            #expect(caseIndex != 2 || losses[AMSModel.Scale.keywords.rawValue] == 0)
        }
        #expect(active > 0)
        var empty = Self.example(&rng, caseIndex: 0)
        empty.queryWords = []
        #expect(model.scaleLosses(for: empty) == [0, 0, 0, 0])
    }

    /// The online part's backward pass gives exactly the full pass's scale-gate and threshold gradients, and only
    /// those.
    @Test func onlineGradientIsTheFullGradientsOnlinePart() throws {
        let model = try Self.model(seed: 3, margin: 0.8)
        var rng = SplitMix64(seed: 4)
        for caseIndex in 0..<3 {
            let example = Self.example(&rng, caseIndex: caseIndex)
            let full = model.lossAndGradients(for: example, scope: .all)
            let online = model.lossAndGradients(for: example, scope: .onlinePart)
            #expect(full.loss == online.loss)
            #expect(Set(online.gradients.dense.keys) == Set(AMSModel.onlineTensorNames))
            #expect(online.gradients.sparse.isEmpty)
            for name in AMSModel.onlineTensorNames {
                #expect(
                    online.gradients.dense[name]?.map(\.bitPattern) == full.gradients.dense[name]?.map(\.bitPattern)
                )
            }
        }
    }

    /// Scoring through the cached encodings is the function the loss uses, bit for bit, whatever the batch.
    @Test func encodedScoresAreTheTrainingScores() throws {
        let model = try Self.model(seed: 5, margin: 3)
        var rng = SplitMix64(seed: 6)
        let example = Self.example(&rng, caseIndex: 1)
        let images = [example.positive] + example.negatives
        let query = model.encodeQuery("snooki baby bump")
        let scored = model.score(query: query, encodedImages: model.encodeImages(images))
        for t in 1..<images.count {
            let pair = TrainingExample(
                query: QueryInput("snooki baby bump", buckets: 64),
                positive: images[0],
                negatives: [images[t]]
            )
            #expect(model.loss(for: pair) == 3 - scored[0].score + scored[t].score)
        }
        // One image at a time, in another batch order, or raw: the same bits.
        for (index, image) in images.enumerated() {
            let alone = model.score(query: query, encodedImages: model.encodeImages([image]))[0]
            #expect(alone.score.bitPattern == scored[index].score.bitPattern)
        }
        let reversed = model.score(query: query, encodedImages: model.encodeImages(images.reversed()))
        #expect(reversed.reversed().map(\.score.bitPattern) == scored.map(\.score.bitPattern))
        #expect(model.score(query: "snooki baby bump", images: images) == scored)
        #expect(scored.allSatisfy { $0.visualWeight + $0.languageWeight == 1 })
        // The image without keywords (case 1's first negative) is scored by its visual scales alone.
        #expect(scored[1].languageWeight == 0 && scored[1].visualWeight == 1)
    }

    /// The explanation comes from the same pass: its score is the score, its mixing weights are `b̃` (the softmax of
    /// the logits over the scales the image has) and the region and keyword attention are the words' positive
    /// weights (or relevance softmaxes) averaged, as a direct computation gives them.
    @Test func explanationMatchesADirectComputation() throws {
        let model = try Self.model(seed: 8)
        var rng = SplitMix64(seed: 9)
        let example = Self.example(&rng, caseIndex: 2)
        let images = [example.positive] + example.negatives
        let query = model.encodeQuery("snooki baby bump")
        let encoded = model.encodeImages(images)
        let explained = model.explain(query: query, encodedImages: encoded)
        let scored = model.score(query: query, encodedImages: encoded)
        #expect(explained.map(\.score.bitPattern) == scored.map(\.score.bitPattern))
        let words = model.encodeWords(QueryInput("snooki baby bump", buckets: 64).wordBags)
        let d = 8
        let (gate, bias) = (model[.scaleGate], model[.scaleLogits])
        let logits = (0..<4).map { s in
            bias[s]
                + (0..<d).reduce(Float(0)) { sum, c in
                    sum + gate[s * d + c] * (0..<3).reduce(Float(0)) { $0 + words.words[$1 * d + c] } / 3
                }
        }
        let thresholds = model[.thresholds]
        for (image, explanation) in zip(images, explained) {
            #expect(explanation.architecture == "ams")
            #expect(explanation.mixingWeights.map(\.name) == ["regions", "grid2x2", "global", "keywords"])
            let present = AMSModel.Scale.allCases.map {
                $0.fragmentCount(regionCount: image.regionCount, keywordCount: image.keywords.count) > 0
            }
            let exps = (0..<4).map { present[$0] ? Double(logits[$0]).exp : 0 }
            let total = exps.reduce(0, +)
            for (s, weight) in explanation.mixingWeights.enumerated() {
                #expect(abs(Double(weight.weight) - exps[s] / total) < 1e-6, "\(weight.name)")
            }
            #expect(abs(explanation.mixingWeights.reduce(0) { $0 + $1.weight } - 1) < 1e-6)
            // Direct attention: per word the positive weights over the fragments above t (else the relevance softmax).
            let encoding = model.encode(image)
            func attention(_ scale: AMSModel.Scale) -> [Float] {
                let fragments = encoding.fragments[scale.rawValue]
                let n = fragments.count / d
                var result = [Double](repeating: 0, count: n)
                for j in 0..<3 {
                    let s = (0..<n).map { i in
                        (0..<d).reduce(0.0) { $0 + Double(fragments[i * d + $1] * words.words[j * d + $1]) }
                    }
                    let t = Double(thresholds[scale.rawValue])
                    let anyAbove = s.contains { $0 > t }
                    let top = s.max()!
                    let e = s.map { anyAbove ? ($0 > t ? (20 * ($0 - top)).exp * ($0 - t) : 0) : (20 * ($0 - top)).exp }
                    let sum = e.reduce(0, +)
                    for i in 0..<n { result[i] += e[i] / sum / 3 }
                }
                return result.map { Float($0) }
            }
            if image.regionCount > 0 {
                let grid = try #require(explanation.regionAttention)
                #expect(grid.rows * grid.columns == image.regionCount)
                let direct = attention(.regions)
                for i in 0..<image.regionCount { #expect(abs(grid.weights[i] - direct[i]) < 1e-4) }
                #expect(abs(grid.weights.reduce(0, +) - 1) < 1e-5)
            } else {
                #expect(explanation.regionAttention == nil)
            }
            let direct = attention(.keywords)
            #expect(explanation.keywordAttention.count == image.keywords.count)
            for item in explanation.keywordAttention { #expect(abs(item.weight - direct[item.index]) < 1e-4) }
            #expect(
                zip(explanation.keywordAttention, explanation.keywordAttention.dropFirst()).allSatisfy {
                    $0.weight >= $1.weight
                }
            )
        }
    }

    /// Images without keywords, regions or both, a non-square grid, and an empty query all score finite; an empty
    /// query scores 0 for every image, an image with nothing scores 0.
    @Test func degenerateInputsScoreFinite() throws {
        let model = try Self.model(seed: 12)
        var rng = SplitMix64(seed: 13)
        let c = smallConfiguration()
        let images = [
            makeImage(&rng, configuration: c, regionCount: 16, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: ["snooki"]),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 5, keywords: ["baby"]),
            makeImage(&rng, configuration: c, regionCount: 1, keywords: ["bump"]),
        ]
        let encoded = model.encodeImages(images)
        #expect(encoded.map(\.byteCount) == [16 + 4 + 1, 1, 0, 5 + 1 + 1, 1 + 1 + 1].map { $0 * 8 * 4 })
        for text in ["snooki baby", "snooki", ""] {
            let query = model.encodeQuery(text)
            let scored = model.score(query: query, encodedImages: encoded)
            let explained = model.explain(query: query, encodedImages: encoded)
            #expect(scored.allSatisfy { $0.score.isFinite && $0.visualWeight.isFinite && $0.languageWeight.isFinite })
            #expect(scored[2].score == 0)
            #expect(explained.map(\.score) == scored.map(\.score))
            #expect(explained.allSatisfy { abs($0.mixingWeights.reduce(0) { $0 + $1.weight } - 1) < 1e-6 })
            if text.isEmpty {
                #expect(scored.allSatisfy { $0.score == 0 })
                #expect(explained.allSatisfy { $0.regionAttention == nil && $0.keywordAttention.isEmpty })
            }
        }
        #expect(model.score(query: model.encodeQuery("snooki"), encodedImages: encoded)[1].languageWeight == 1)
        // Training on them is finite too, and an empty query has a constant loss and no gradient.
        for image in images {
            let example = TrainingExample(
                query: QueryInput("snooki baby", buckets: 64),
                positive: image,
                negatives: images
            )
            let result = model.lossAndGradients(for: example, scope: .all)
            #expect(result.loss.isFinite)
            #expect(result.gradients.dense.values.allSatisfy { $0.allSatisfy(\.isFinite) })
        }
        let empty = TrainingExample(query: QueryInput("", buckets: 64), positive: images[0], negatives: [images[1]])
        let result = model.lossAndGradients(for: empty, scope: .all)
        #expect(result.loss == 0.2)
        #expect(result.gradients.dense.values.allSatisfy { $0.allSatisfy { $0 == 0 } })
    }

    /// The 2×2 pooling: a 3×3 grid pools blocks of 4, 2, 2 and 1 cells; non-square or single-cell grids have none.
    @Test func pooledGridSplitsAtTheCeilingOfHalf() {
        let cells = (0..<9).map { Float($0) }
        let blocks: [Float] = [8 / 4, 7 / 2, 13 / 2, 8]
        #expect(AMSModel.pooledGrid(cells, regionCount: 9, dimension: 1) == blocks)
        #expect(AMSModel.pooledGrid((0..<4).map { Float($0) }, regionCount: 4, dimension: 1) == [0, 1, 2, 3])
        #expect(AMSModel.pooledGrid([1, 2, 3], regionCount: 3, dimension: 1).isEmpty)
        #expect(AMSModel.pooledGrid([1], regionCount: 1, dimension: 1).isEmpty)
        #expect(AMSModel.pooledGrid([], regionCount: 0, dimension: 1).isEmpty)
    }

    /// Three topics, multi-word queries: each with its own region pattern and keywords.
    static func problem() -> [TrainingExample] {
        var rng = SplitMix64(seed: 2017)
        let topics = ["snooki baby", "red car", "snow kitten"]
        let prototypes = topics.map { _ in (0..<6).map { _ in rng.nextSymmetric(1) } }
        func image(_ topic: Int) -> ImageFeatures {
            var regions: [Float] = []
            for _ in 0..<4 { regions += prototypes[topic].map { $0 + rng.nextSymmetric(0.1) } }
            let keywords = topics[topic].split(separator: " ").map {
                LetterTrigramHasher.encode(String($0), buckets: 64)
            }
            return ImageFeatures(regions: regions, regionCount: 4, keywords: keywords)
        }
        return topics.indices.map { t in
            TrainingExample(
                query: QueryInput(topics[t], buckets: 64),
                positive: image(t),
                negatives: [image((t + 1) % 3), image((t + 2) % 3)]
            )
        }
    }

    /// Bootstrap training through the generic trainer lowers the loss and is deterministic from a seed;
    /// fine-tuning the online part changes only the scale gate and thresholds, and images encoded before it score
    /// exactly like freshly encoded ones after it.
    @Test func trainsDeterministicallyAndKeepsEncodingsWhenFineTuned() throws {
        let problem = Self.problem()
        func total(_ model: any ScoringModel) -> Float { problem.reduce(0) { $0 + model.loss(for: $1) } }
        func train() throws -> any ScoringModel {
            let start: any ScoringModel = try Self.model(seed: 11, online: false)
            var trainer = start.makeTrainer(TrainerSettings(learningRate: 0.02, scope: .all))
            for _ in 0..<200 { _ = trainer.step(problem[...]) }
            return trainer.scoringModel
        }
        let start = try Self.model(seed: 11, online: false)
        let trained = try train()
        #expect(total(start) > 0.1)
        #expect(total(trained) < 0.25 * total(start), "loss \(total(start)) → \(total(trained))")
        #expect(try train().parameters == trained.parameters)

        // An intent shift: each query's clicks move to an image of another topic.
        let shifted = problem.map {
            var example = $0
            (example.positive, example.negatives) = ($0.negatives[0], [$0.positive])
            return example
        }
        var tuner = trained.makeTrainer(TrainerSettings(learningRate: 0.05, scope: .onlinePart))
        for _ in 0..<20 { _ = tuner.step(shifted[...]) }
        let tuned = tuner.scoringModel
        let shiftedLoss = { (model: any ScoringModel) in shifted.reduce(Float(0)) { $0 + model.loss(for: $1) } }
        #expect(shiftedLoss(tuned) < shiftedLoss(trained), "\(shiftedLoss(trained)) → \(shiftedLoss(tuned))")
        for (before, after) in zip(trained.parameters.tensors, tuned.parameters.tensors) {
            let same = before.values.map(\.bitPattern) == after.values.map(\.bitPattern)
            #expect(same != AMSModel.onlineTensorNames.contains(before.name), "\(before.name)")
        }
        #expect(AMSModel.onlinePartKeepsImageEncodings && trained.sharesImageEncodings(with: tuned))
        #expect(!trained.sharesImageEncodings(with: start))
        let images = problem.flatMap { [$0.positive] + $0.negatives }
        let cached = trained.encodeImages(images)
        for text in ["snooki baby", "red car"] {
            let query = tuned.encodeQuery(text)
            let reused = tuned.score(query: query, encodedImages: cached)
            let fresh = tuned.score(query: query, encodedImages: tuned.encodeImages(images))
            #expect(reused == fresh)
        }
    }

    /// Bootstrap training with the auxiliary per-scale hinges (the generic trainer, weight from its settings)
    /// lowers the loss and is deterministic from a seed, and leaves each scale a better ranker on its own than
    /// training the mix alone does; at the online scope the weight is not used (the same bits as without it).
    @Test func auxiliaryScaleLossesTrainEachScaleAndOnlyAtBootstrap() throws {
        let problem = Self.problem()
        func total(_ model: any ScoringModel) -> Float { problem.reduce(0) { $0 + model.loss(for: $1) } }
        func scaleTotal(_ model: any ScoringModel) throws -> Float {
            let ams = try #require(model as? AMSModel)
            return problem.reduce(0) { $0 + ams.scaleLosses(for: $1).reduce(0, +) }
        }
        func train(auxiliaryWeight: Float, steps: Int = 200) throws -> any ScoringModel {
            let start: any ScoringModel = try Self.model(seed: 11, online: false)
            var trainer = start.makeTrainer(
                TrainerSettings(learningRate: 0.02, scope: .all, auxiliaryModalityWeight: auxiliaryWeight)
            )
            for _ in 0..<steps { _ = trainer.step(problem[...]) }
            return trainer.scoringModel
        }
        let start = try Self.model(seed: 11, online: false)
        let trained = try train(auxiliaryWeight: 0.5)
        #expect(total(trained) < 0.25 * total(start), "loss \(total(start)) → \(total(trained))")
        #expect(try train(auxiliaryWeight: 0.5).parameters == trained.parameters)
        let mixOnly = try train(auxiliaryWeight: 0)
        #expect(trained.parameters != mixOnly.parameters)
        let (withAuxiliary, mixAlone) = (try scaleTotal(trained), try scaleTotal(mixOnly))
        #expect(
            withAuxiliary < mixAlone,
            "per-scale hinges: \(mixAlone) with the mix alone, \(withAuxiliary) with them"
        )

        // Fine-tuning the online part: the auxiliary weight changes nothing.
        let shifted = problem.map {
            var example = $0
            (example.positive, example.negatives) = ($0.negatives[0], [$0.positive])
            return example
        }
        func tune(auxiliaryWeight: Float) -> any ScoringModel {
            var tuner = trained.makeTrainer(
                TrainerSettings(learningRate: 0.05, scope: .onlinePart, auxiliaryModalityWeight: auxiliaryWeight)
            )
            for _ in 0..<5 { _ = tuner.step(shifted[...]) }
            return tuner.scoringModel
        }
        let tuned = tune(auxiliaryWeight: 0.5)
        #expect(tuned.parameters != trained.parameters)
        #expect(
            tuned.parameters.tensors.map { $0.values.map(\.bitPattern) }
                == tune(auxiliaryWeight: 0).parameters.tensors.map { $0.values.map(\.bitPattern) }
        )
    }

    @Test func parametersAreCheckedAndRoundTrip() throws {
        let model = try Self.model(seed: 1)
        let rebuilt = try ModelArchitectures.model(from: model.parameters)
        #expect(rebuilt is AMSModel && rebuilt.parameters == model.parameters)
        #expect(
            model.parameters.tensors.map(\.name) == [
                "E_q", "b_q", "E_k", "b_k", "W_r", "b_r", "W_g", "b_g", "W_m", "b_m", "scale_gate", "scale_logits",
                "t",
            ]
        )
        #expect(model.parameters.hyperParameters["lambda_softmax"] == 20)
        #expect(model.parameters["W_g"]?.rows == 8 && model.parameters["W_g"]?.columns == 6)
        var wrongShape = model.parameters
        wrongShape.tensors[11].rows = 3
        wrongShape.tensors[11].values.removeLast()
        #expect(throws: ModelError.self) { try AMSModel(parameters: wrongShape) }
        var missing = model.parameters
        missing.hyperParameters["lambda_softmax"] = nil
        #expect(throws: ModelError.self) { try AMSModel(parameters: missing) }
        #expect(throws: ModelError.self) {
            try AMSModel.initialParameters(seed: 1, hyperParameters: ["lambda_softmax": -1])
        }
        #expect(throws: ModelError.self) {
            try AMSModel(parameters: AMCWeights(configuration: smallConfiguration(), seed: 1).parameters)
        }
    }

    /// A best match above the threshold by less than the smallest normal float (the positive weights' sum
    /// underflows) counts as no positive match: the score and every gradient stay finite.
    @Test func aVanishingPositiveSumGivesFiniteGradients() {
        let matching = NegativeAwareMatching(lambda: 20)
        let scratch = NegativeAwareScratch(words: 1, fragments: 1, dimension: 2)
        // fragment (1.2e-39, 0), word (1, 0), |e| = 1, then ∂f (2), ∂e (2), ∂s (1).
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 10)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0, count: 10)
        (buffer[0], buffer[2], buffer[4]) = (Float.leastNormalMagnitude / 10, 1, 1)
        let fragments = MatrixView(buffer, rows: 1, columns: 2)
        let words = MatrixView(buffer + 2, rows: 1, columns: 2)
        let score = matching.forward(
            fragments: fragments,
            words: words,
            wordNorms: buffer + 4,
            threshold: 0,
            scratch: scratch
        )
        #expect(score.isFinite && abs(score) < 1e-30)
        let dt = matching.backward(
            fragments: fragments,
            words: words,
            wordNorms: buffer + 4,
            threshold: 0,
            dS: 1,
            scratch: scratch,
            inputs: NegativeAwareMatching.InputGradients(
                fragments: MatrixView(buffer + 5, rows: 1, columns: 2),
                words: MatrixView(buffer + 7, rows: 1, columns: 2),
                similarities: buffer + 9
            )
        )
        #expect(dt.isFinite)
        #expect((5..<9).allSatisfy { buffer[$0].isFinite })
    }

    /// A query or image encoded by another architecture is refused (the scoring loop reads the block through raw
    /// pointers, so a foreign encoding must stop the process rather than be read out of bounds).
    @Test func foreignEncodingsAreRefused() async {
        await #expect(processExitsWith: .failure) {
            let ams = try AMSModelTests.model(seed: 1)
            let lateFusion = try LateFusionModelTests.model(seed: 1)
            _ = ams.score(query: lateFusion.encodeQuery("snooki baby"), encodedImages: [])
        }
        await #expect(processExitsWith: .failure) {
            let ams = try AMSModelTests.model(seed: 1)
            let lateFusion = try LateFusionModelTests.model(seed: 1)
            let image = ImageFeatures(regions: [Float](repeating: 0.5, count: 12), regionCount: 2, keywords: [])
            _ = ams.score(query: ams.encodeQuery("snooki"), encodedImages: lateFusion.encodeImages([image]))
        }
    }
}

extension Double {
    /// `e^self` (the test's reference computation, independent of the model's own exponential).
    fileprivate var exp: Double {
        var term = 1.0
        var sum = 1.0
        // exp(x) = exp(x / 2^k)^(2^k), the small argument by its series.
        var k = 0
        var x = self
        while abs(x) > 0.5 {
            x /= 2
            k += 1
        }
        for n in 1..<20 {
            term *= x / Double(n)
            sum += term
        }
        for _ in 0..<k { sum *= sum }
        return sum
    }
}
