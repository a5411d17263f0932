import Testing

@testable import Model

@Suite struct CAANModelTests {
    /// The small CAAN dimensions of the gradient checks (H = 64, d = 8, D = 6).
    static func smallHyperParameters(margin: Double = 0.2) -> [String: Double] {
        ["H": 64, "d": 8, "D": 6, "margin": margin]
    }

    /// A small model; with `randomOnline` the online part and `u` are moved away from their zero start, so every
    /// term of the fragment logits and of the query attention is active.
    static func model(seed: UInt64, margin: Double = 0.2, randomOnline: Bool = true) throws -> CAANModel {
        var parameters = try CAANModel.initialParameters(
            seed: seed,
            hyperParameters: smallHyperParameters(margin: margin)
        )
        if randomOnline {
            var rng = SplitMix64(seed: seed &+ 99)
            let names = CAANModel.onlineTensorNames + ["u", "b_q", "b_k", "b_v"]
            for index in parameters.tensors.indices where names.contains(parameters.tensors[index].name) {
                for i in parameters.tensors[index].values.indices {
                    parameters.tensors[index].values[i] = rng.nextSymmetric(0.8)
                }
            }
            parameters.tensors[CAANModel.Tensor.temperature.index].values = [4]
        }
        return try CAANModel(parameters: parameters)
    }

    /// A training example of a multi-word query.
    static func example(
        _ rng: inout SplitMix64,
        query: String,
        positive: [String],
        negatives: [(regions: Int, keywords: [String])]
    ) -> TrainingExample {
        let c = smallConfiguration()
        return TrainingExample(
            query: QueryInput(query, buckets: c.hashBuckets),
            positive: makeImage(&rng, configuration: c, regionCount: 4, keywords: positive),
            negatives: negatives.map {
                makeImage(&rng, configuration: c, regionCount: $0.regions, keywords: $0.keywords)
            }
        )
    }

    /// Central differences in Float (ε = 1e-3) against the hand-written backward pass, for every tensor; the
    /// embedding tables' gradients are exactly the rows of the example's buckets.
    @Test(arguments: [0, 1, 2])
    func analyticGradientMatchesFiniteDifferences(caseIndex: Int) throws {
        // margin 2 keeps every hinge term active (|s| ≤ 1), so the loss is smooth around the test point.
        let model = try Self.model(seed: 42 + UInt64(caseIndex), margin: 2)
        var rng = SplitMix64(seed: 0xFACE + UInt64(caseIndex))
        // Case 1 has a negative without keywords, case 2 one without regions; case 2's query is one word.
        let example = Self.example(
            &rng,
            query: caseIndex == 2 ? "snooki" : "snooki baby bump",
            positive: ["snooki", "baby", "beach"],
            negatives: [
                (4, caseIndex == 1 ? [] : ["red car", "bump"]),
                (caseIndex == 2 ? 0 : 3, ["kitten", "snow"]),
            ]
        )
        let analytic = model.lossAndGradients(for: example, scope: .all)
        #expect(analytic.loss > 0)
        #expect(analytic.loss == model.loss(for: example))
        let images = [example.positive] + example.negatives
        let queryRows = Set(example.queryWords.flatMap(\.indices).map(Int.init))
        let keywordRows = Set(images.flatMap(\.keywords).flatMap(\.indices).map(Int.init))
        #expect(Set(analytic.gradients.sparse["E_q"]?.rows ?? []) == queryRows)
        #expect(Set(analytic.gradients.sparse["E_k"]?.rows ?? []) == keywordRows)

        for tensor in CAANModel.Tensor.allCases {
            let stored = model.parameters.tensors[tensor.index]
            var entries: [Int] = []
            switch tensor {
            case .queryEmbedding, .keywordEmbedding:
                let rows = (tensor == .queryEmbedding ? queryRows : keywordRows).sorted()
                for k in 0..<6 {
                    entries.append(rows[(k * 5) % rows.count] * stored.columns + Int(rng.next() % 8))
                }
            default:
                let count = stored.values.count
                entries = [0, count - 1] + (0..<4).map { _ in Int(rng.next() % UInt64(count)) }
            }
            let magnitude = try expectGradientMatchesCentralDifferences(
                model,
                tensor: tensor.index,
                entries: entries,
                example: example,
                analytic: analytic.gradients,
                slack: 2e-3
            )
            if tensor == .wordAttention && example.queryWords.count == 1 {
                // The attention over a single word is 1 whatever u.
                #expect(try #require(analytic.gradients.dense["u"]).allSatisfy { $0 == 0 })
            } else {
                #expect(magnitude > 0, "\(tensor.rawValue): sampled gradient entries are all zero")
            }
        }
    }

    /// The online part's backward pass gives exactly the full pass's online gradients and nothing else.
    @Test func onlineGradientIsTheFullGradientsOnlinePart() throws {
        let model = try Self.model(seed: 3, margin: 0.8)
        var rng = SplitMix64(seed: 21)
        for query in ["snooki baby", "red car", "kitten"] {
            let example = Self.example(
                &rng,
                query: query,
                positive: ["snooki", "baby"],
                negatives: [(4, ["red car"]), (2, ["snow", "kitten", "cat"])]
            )
            let full = model.lossAndGradients(for: example, scope: .all)
            let online = model.lossAndGradients(for: example, scope: .onlinePart)
            #expect(full.loss == online.loss && full.loss > 0)
            #expect(Set(online.gradients.dense.keys) == Set(CAANModel.onlineTensorNames))
            #expect(online.gradients.sparse.isEmpty)
            for name in CAANModel.onlineTensorNames {
                #expect(
                    online.gradients.dense[name]?.map(\.bitPattern) == full.gradients.dense[name]?.map(\.bitPattern),
                    "\(name)"
                )
            }
        }
    }

    /// Scoring through the cached encodings is the function the loss uses, encoded scoring equals raw scoring bit
    /// for bit whatever the batch, and the explanation is that pass's attention.
    @Test func encodedScoresAreTheTrainingScoresAndExplained() throws {
        let model = try Self.model(seed: 5, margin: 3)
        var rng = SplitMix64(seed: 6)
        let c = smallConfiguration()
        let positive = makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki", "baby", "bump"])
        let negative = makeImage(&rng, configuration: c, regionCount: 2, keywords: ["car"])
        let text = "snooki baby"
        let query = model.encodeQuery(text)
        let scored = model.score(query: query, encodedImages: model.encodeImages([positive, negative]))
        let loss = model.loss(
            for: TrainingExample(query: QueryInput(text, buckets: 64), positive: positive, negatives: [negative])
        )
        #expect(loss == 3 - scored[0].score + scored[1].score)
        // Raw scoring, and each image encoded in another batch, give the same bits.
        #expect(model.score(query: text, images: [positive, negative]) == scored)
        let alone = [model.encodeImages([negative, positive])[1], model.encodeImage(negative)]
        #expect(model.score(query: query, encodedImages: alone).map(\.score) == scored.map(\.score))

        let explained = model.explain(query: query, encodedImages: model.encodeImages([positive, negative]))
        #expect(explained.map(\.score) == scored.map(\.score))
        for (index, (image, explanation)) in zip([positive, negative], explained).enumerated() {
            let direct = try Self.directForward(model, words: QueryInput(text, buckets: 64).wordBags, image: image)
            #expect(abs(direct.score - scored[index].score) < 1e-5)
            let r = image.regionCount
            let visual = direct.attention[0..<r].reduce(0, +)
            let keywords = direct.attention[r...].reduce(0, +)
            #expect(explanation.architecture == "caan")
            #expect(explanation.mixingWeights.map(\.name) == ["visual", "language"])
            #expect(explanation.mixingWeights.map(\.weight).reduce(0, +) == 1)
            #expect(explanation.mixingWeight("visual") == scored[index].visualWeight)
            #expect(abs(try #require(explanation.mixingWeight("visual")) - visual) < 1e-5)
            #expect(abs(try #require(explanation.mixingWeight("language")) - keywords) < 1e-5)
            let grid = try #require(explanation.regionAttention)
            #expect(grid.weights.count == r && abs(grid.weights.reduce(0, +) - 1) < 1e-5)
            for i in 0..<r { #expect(abs(grid.weights[i] - direct.attention[i] / visual) < 1e-5) }
            #expect(explanation.keywordAttention.count == image.keywords.count)
            #expect(abs(explanation.keywordAttention.map(\.weight).reduce(0, +) - 1) < 1e-5)
            for item in explanation.keywordAttention {
                #expect(abs(item.weight - direct.attention[r + item.index] / keywords) < 1e-5)
            }
        }
    }

    /// Missing modalities and an empty query: every score is finite, a query without words scores 0 everywhere, an
    /// image without fragments scores 0, one modality alone gets the whole mix.
    @Test func emptyInputsScoreFinite() throws {
        let model = try Self.model(seed: 8)
        var rng = SplitMix64(seed: 9)
        let c = smallConfiguration()
        let images = [
            makeImage(&rng, configuration: c, regionCount: 4, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: ["snooki", "beach"]),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 3, keywords: ["baby"]),
        ]
        let encoded = model.encodeImages(images)
        let scored = model.score(query: model.encodeQuery("snooki baby"), encodedImages: encoded)
        #expect(scored.allSatisfy { $0.score.isFinite && $0.visualWeight + $0.languageWeight == 1 })
        #expect(scored[0].visualWeight == 1 && scored[0].languageWeight == 0)
        #expect(scored[1].visualWeight == 0 && scored[1].languageWeight == 1)
        #expect(scored[2].score == 0 && scored[2].visualWeight == 1)
        #expect(scored[0].score != 0 && scored[1].score != 0 && scored[3].score != 0)
        let explained = model.explain(query: model.encodeQuery("snooki baby"), encodedImages: encoded)
        #expect(explained[0].regionAttention != nil && explained[0].keywordAttention.isEmpty)
        #expect(explained[1].regionAttention == nil && explained[1].keywordAttention.count == 2)
        #expect(explained[2].regionAttention == nil && explained[2].keywordAttention.isEmpty)
        for text in ["", "   "] {
            let empty = model.score(query: model.encodeQuery(text), encodedImages: encoded)
            #expect(empty.allSatisfy { $0.score == 0 && $0.visualWeight + $0.languageWeight == 1 })
        }
        // A training example without words has a constant loss and no gradient.
        let example = TrainingExample(query: QueryInput("", buckets: 64), positive: images[3], negatives: [images[0]])
        let result = model.lossAndGradients(for: example, scope: .all)
        #expect(result.loss == model.margin)
        #expect(result.gradients.dense.values.allSatisfy { $0.allSatisfy { $0 == 0 } })
        let touchedRows = result.gradients.sparse.values.flatMap(\.rows)
        #expect(touchedRows.isEmpty)
    }

    /// A modality whose attention share underflows to 0 is explained as an even spread over its items, never NaN.
    @Test func anUnderflowedShareIsExplainedEvenly() throws {
        var parameters = try Self.model(seed: 12).parameters
        parameters.tensors[CAANModel.Tensor.fragmentWeight.index].values = [Float](repeating: 1, count: 8)
        parameters.tensors[CAANModel.Tensor.regionType.index].values = [Float](repeating: 100, count: 8)
        let model = try CAANModel(parameters: parameters)
        var rng = SplitMix64(seed: 13)
        let image = makeImage(&rng, configuration: smallConfiguration(), regionCount: 4, keywords: ["snooki", "baby"])
        let explained = model.explain(query: model.encodeQuery("snooki"), encodedImages: model.encodeImages([image]))
        let explanation = try #require(explained.first)
        #expect(abs(try #require(explanation.mixingWeight("visual")) - 1) < 1e-6)
        #expect(explanation.keywordAttention.map(\.weight) == [0.5, 0.5])
        let grid = try #require(explanation.regionAttention)
        #expect(grid.weights.allSatisfy(\.isFinite) && abs(grid.weights.reduce(0, +) - 1) < 1e-5)
    }

    /// Bootstrap training through the generic trainer lowers the loss and is deterministic; fine-tuning the online
    /// part changes only it, and images encoded before it score exactly like freshly encoded ones after it.
    @Test func trainsDeterministicallyAndKeepsEncodingsWhenFineTuned() throws {
        let problem = Self.problem()
        let start: any ScoringModel = try Self.model(seed: 11, randomOnline: false)
        func total(_ model: any ScoringModel, _ examples: [TrainingExample]) -> Float {
            examples.reduce(0) { $0 + model.loss(for: $1) }
        }
        func train() -> any ScoringModel {
            var trainer = start.makeTrainer(TrainerSettings(learningRate: 0.02, scope: .all))
            for _ in 0..<200 { _ = trainer.step(problem[...]) }
            return trainer.scoringModel
        }
        let trained = train()
        #expect(total(start, problem) > 0.5)
        #expect(
            total(trained, problem) < 0.25 * total(start, problem),
            "\(total(start, problem)) → \(total(trained, problem))"
        )
        #expect(train().parameters == trained.parameters)

        // An intent shift: each query's clicks move to an image of another topic.
        let shifted = problem.map {
            var example = $0
            (example.positive, example.negatives) = ($0.negatives[0], [$0.positive])
            return example
        }
        var tuner = trained.makeTrainer(TrainerSettings(learningRate: 0.05, scope: .onlinePart))
        for _ in 0..<30 { _ = tuner.step(shifted[...]) }
        let tuned = tuner.scoringModel
        #expect(
            total(tuned, shifted) < total(trained, shifted),
            "\(total(trained, shifted)) → \(total(tuned, shifted))"
        )
        for (before, after) in zip(trained.parameters.tensors, tuned.parameters.tensors) {
            let same = before.values.map(\.bitPattern) == after.values.map(\.bitPattern)
            #expect(same != CAANModel.onlineTensorNames.contains(before.name), "\(before.name)")
        }
        #expect(CAANModel.onlinePartKeepsImageEncodings && trained.sharesImageEncodings(with: tuned))
        #expect(!trained.sharesImageEncodings(with: start))
        let images = problem.flatMap { [$0.positive] + $0.negatives }
        let cached = trained.encodeImages(images)
        for text in ["snooki baby", "red car"] {
            let query = tuned.encodeQuery(text)
            #expect(
                tuned.score(query: query, encodedImages: cached)
                    == tuned.score(query: query, encodedImages: tuned.encodeImages(images))
            )
        }
    }

    @Test func parametersAreCheckedAndRoundTrip() throws {
        let model = try Self.model(seed: 1)
        let rebuilt = try ModelArchitectures.model(from: model.parameters)
        #expect(rebuilt is CAANModel && rebuilt.parameters == model.parameters)
        #expect(
            model.parameters.tensors.map(\.name)
                == ["E_q", "b_q", "u", "E_k", "b_k", "W_v", "b_v", "w_1", "w_2", "w_3", "lambda", "t_v", "t_k"]
        )
        #expect(model.parameters["E_q"]?.rows == 64 && model.parameters["E_q"]?.columns == 8)
        #expect(model.parameters["lambda"]?.rows == 1 && model.parameters["lambda"]?.columns == 1)
        let fresh = try CAANModel.initialParameters(seed: 1, hyperParameters: [:])
        #expect(fresh.hyperParameters == ["H": 4096, "d": 64, "D": 32, "margin": Double(Float(0.2))])
        #expect(fresh["lambda"]?.values == [CAANModel.initialTemperature])
        var wrongShape = model.parameters
        wrongShape.tensors[7].rows = 3
        wrongShape.tensors[7].values = [0, 0, 0]
        #expect(throws: ModelError.self) { try CAANModel(parameters: wrongShape) }
        var missing = model.parameters
        missing.hyperParameters["D"] = nil
        #expect(throws: ModelError.self) { try CAANModel(parameters: missing) }
        #expect(throws: ModelError.self) {
            try CAANModel(parameters: AMCWeights(configuration: smallConfiguration(), seed: 1).parameters)
        }
    }

    // MARK: - Helpers

    /// Three two-word topics; each query's positive has its topic's regions and keywords, its negatives the others'.
    static func problem() -> [TrainingExample] {
        let c = smallConfiguration()
        var rng = SplitMix64(seed: 2020)
        let topics = [["snooki", "baby"], ["red", "car"], ["snow", "kitten"]]
        let prototypes = topics.map { _ in (0..<c.regionDimension).map { _ in rng.nextSymmetric(1) } }
        func image(_ topic: Int) -> ImageFeatures {
            var regions: [Float] = []
            for _ in 0..<4 { regions += prototypes[topic].map { $0 + rng.nextSymmetric(0.1) } }
            let keywords = topics[topic] + ["photo"]
            return ImageFeatures(
                regions: regions,
                regionCount: 4,
                keywords: keywords.map { LetterTrigramHasher.encode($0, buckets: c.hashBuckets) }
            )
        }
        return topics.indices.map { t in
            TrainingExample(
                query: QueryInput(topics[t].joined(separator: " "), buckets: c.hashBuckets),
                positive: image(t),
                negatives: [image((t + 1) % 3), image((t + 2) % 3)]
            )
        }
    }

    /// CAAN's forward pass written out with plain loops over the stored tensors (the context as the explicit
    /// `Σ_k (1 + Ĥ_i·Ĥ_k) φ_k / Σ_k (1 + Ĥ_i·Ĥ_k)`): the score and the fragment attention `a`.
    static func directForward(
        _ model: CAANModel,
        words: [SparseVector],
        image: ImageFeatures
    ) throws -> (score: Float, attention: [Float]) {
        let (d, dim) = (model.embeddingDimension, model.regionDimension)
        func dot(_ x: [Float], _ y: [Float]) -> Float { zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } }
        func normalized(_ x: [Float]) -> [Float] {
            let n = (dot(x, x) + 1e-8).squareRoot()
            return x.map { $0 / n }
        }
        func softmax(_ x: [Float]) -> [Float] {
            let top = x.max() ?? 0
            let e = x.map { ($0 - top).expValue }
            let total = e.reduce(0, +)
            return e.map { $0 / total }
        }
        func embed(_ bag: SparseVector, _ table: [Float], _ bias: [Float]) -> [Float] {
            var out = bias
            for (index, count) in zip(bag.indices, bag.counts) {
                for c in 0..<d { out[c] += count * table[Int(index) * d + c] }
            }
            return normalized(out.map(\.tanhValue))
        }
        let e = words.map { embed($0, model[.queryEmbedding], model[.queryBias]) }
        let pi = softmax(e.map { dot(model[.wordAttention], $0) })
        var y = [Float](repeating: 0, count: d)
        for (j, word) in e.enumerated() { for c in 0..<d { y[c] += pi[j] * word[c] } }
        var fragments: [[Float]] = []
        for i in 0..<image.regionCount {
            let p = (0..<d).map { c in
                model[.regionBias][c]
                    + (0..<dim).reduce(0) { $0 + model[.regionWeight][c * dim + $1] * image.regions[i * dim + $1] }
            }
            fragments.append(zip(normalized(p), model[.regionType]).map { $0 + $1 })
        }
        for bag in image.keywords {
            fragments.append(
                zip(embed(bag, model[.keywordEmbedding], model[.keywordBias]), model[.keywordType]).map { $0 + $1 }
            )
        }
        let m = fragments.count
        let lambda = model[.temperature][0]
        let h = fragments.map { f in e.map { dot(f, $0) } }
        var crossAttention = [[Float]](repeating: [], count: m)
        for j in e.indices {
            let column = softmax(h.map { lambda * $0[j] })
            for i in 0..<m { crossAttention[i].append(column[i]) }
        }
        let hat = h.map { normalized($0) }
        let phi = fragments.map { dot(model[.contextWeight], $0) }
        let logits = (0..<m).map { i in
            var (numerator, denominator): (Float, Float) = (0, 0)
            for k in 0..<m {
                let kernel = 1 + dot(hat[i], hat[k])
                numerator += kernel * phi[k]
                denominator += kernel
            }
            let aligned = e.indices.reduce(Float(0)) {
                $0 + crossAttention[i][$1] * dot(model[.alignmentWeight], e[$1])
            }
            return dot(model[.fragmentWeight], fragments[i]) + aligned + numerator / denominator
        }
        let a = softmax(logits)
        var z = [Float](repeating: 0, count: d)
        for i in 0..<m { for c in 0..<d { z[c] += a[i] * fragments[i][c] } }
        let score = dot(y, z) / ((dot(y, y) + 1e-8).squareRoot() * (dot(z, z) + 1e-8).squareRoot())
        return (score, a)
    }
}
