import Testing

@testable import Model

@Suite struct CASCModelTests {
    /// The small CASC dimensions of the gradient checks (H = 64, d = 8, D = 6, h = 4, L = 16).
    static func smallHyperParameters(margin: Double = 0.2, labelWeight: Double = 1) -> [String: Double] {
        ["H": 64, "d": 8, "D": 6, "h": 4, "L": 16, "margin": margin, "label_weight": labelWeight]
    }

    /// A model with its gate, temperatures and mix moved away from their starting values (so β is not 0.5 and no
    /// gradient is symmetric).
    static func model(
        seed: UInt64,
        margin: Double = 0.2,
        labelWeight: Double = 1,
        gate: Bool = true
    ) throws
        -> CASCModel
    {
        var parameters = try CASCModel.initialParameters(
            seed: seed,
            hyperParameters: smallHyperParameters(margin: margin, labelWeight: labelWeight)
        )
        if gate {
            var rng = SplitMix64(seed: seed &+ 99)
            for index in parameters.tensors.indices
            where ["m_v", "m_k", "c_v", "c_k", "b_2"].contains(
                parameters.tensors[index].name
            ) {
                for i in parameters.tensors[index].values.indices {
                    parameters.tensors[index].values[i] = rng.nextSymmetric(0.8)
                }
            }
            // Milder temperatures than SCAN's, so central differences in Float stay accurate.
            parameters.tensors[CASCModel.Tensor.logTemperatures.index].values = [1.1, 0.9, 0.7, 1.0, 0.6, 0.8]
        }
        return try CASCModel(parameters: parameters)
    }

    static func example(
        _ text: String,
        _ rng: inout SplitMix64,
        positive: (regions: Int, keywords: [String]),
        negatives: [(regions: Int, keywords: [String])]
    ) -> TrainingExample {
        let c = smallConfiguration()
        func image(_ spec: (regions: Int, keywords: [String])) -> ImageFeatures {
            makeImage(&rng, configuration: c, regionCount: spec.regions, keywords: spec.keywords)
        }
        return TrainingExample(
            query: QueryInput(text, buckets: 64),
            positive: image(positive),
            negatives: negatives.map(image)
        )
    }

    /// A small problem: three topics, each query's clicked image of its topic (regions near the topic's prototype,
    /// its words as keywords), the two others as negatives.
    static func problem() -> [TrainingExample] {
        let c = smallConfiguration()
        return TrainingTests.problem(c).enumerated().map { t, example in
            let text = ["snooki baby", "red car", "snow kitten"][t]
            return TrainingExample(
                query: QueryInput(text, buckets: c.hashBuckets),
                positive: example.positive,
                negatives: example.negatives
            )
        }
    }

    /// Central differences in Float (ε = 1e-3) against the hand-written backward pass, for every tensor; the
    /// embedding tables' gradients are exactly the rows of the example's buckets.
    @Test(arguments: [0, 1, 2])
    func analyticGradientMatchesFiniteDifferences(caseIndex: Int) throws {
        // margin 3 keeps every hinge term active (|s| ≤ 1 + 1), so the loss is smooth around the test point.
        let model = try Self.model(seed: 42 + UInt64(caseIndex), margin: 3)
        var rng = SplitMix64(seed: 0xFACE + UInt64(caseIndex))
        // Case 1 has a negative without keywords (β_v = 1), case 2 one without regions (β_k = 1).
        let example = Self.example(
            "snooki baby bump",
            &rng,
            positive: (4, ["snooki", "baby", "beach"]),
            negatives: [
                (4, caseIndex == 1 ? [] : ["red car", "bump"]),
                (caseIndex == 2 ? 0 : 3, ["kitten", "snow"]),
            ]
        )
        let analytic = model.lossAndGradients(for: example, scope: .all)
        #expect(analytic.loss > 0)
        #expect(analytic.loss == model.loss(for: example))
        let queryRows = Set(example.queryWords.flatMap(\.indices).map(Int.init))
        let keywordRows = Set(
            ([example.positive] + example.negatives).flatMap(\.keywords).flatMap(\.indices).map(Int.init)
        )
        #expect(Set(analytic.gradients.sparse["E_q"]?.rows ?? []) == queryRows)
        #expect(Set(analytic.gradients.sparse["E_k"]?.rows ?? []) == keywordRows)
        #expect(
            Set(analytic.gradients.dense.keys).union(analytic.gradients.sparse.keys)
                == Set(model.parameters.tensors.map(\.name))
        )

        for tensor in CASCModel.Tensor.allCases {
            let stored = model.parameters.tensors[tensor.index]
            var entries: [Int] = []
            switch tensor {
            case .queryEmbedding, .keywordEmbedding:
                let rows = (tensor == .queryEmbedding ? queryRows : keywordRows).sorted()
                for k in 0..<6 {
                    entries.append(rows[(k * 5) % rows.count] * stored.columns + Int(rng.next() % 8))
                }
            case .logTemperatures, .alphaLogit:
                entries = Array(stored.values.indices)
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
            #expect(magnitude > 0, "\(tensor.rawValue): sampled gradient entries are all zero")
        }
    }

    /// The online part's backward pass computes exactly the full pass's gradients of the gate, the temperatures and
    /// α, and nothing else.
    @Test func onlineGradientIsTheFullGradientsOnlinePart() throws {
        let model = try Self.model(seed: 3, margin: 0.8)
        var rng = SplitMix64(seed: 21)
        let examples = [
            Self.example("snooki baby", &rng, positive: (4, ["snooki"]), negatives: [(4, ["car"]), (0, ["dog"])]),
            Self.example("red car", &rng, positive: (4, ["red", "car"]), negatives: [(3, []), (4, ["kitten"])]),
        ]
        for example in examples {
            let full = model.lossAndGradients(for: example, scope: .all)
            let online = model.lossAndGradients(for: example, scope: .onlinePart)
            #expect(full.loss == online.loss)
            #expect(Set(online.gradients.dense.keys) == Set(CASCModel.onlineTensorNames))
            #expect(online.gradients.sparse.isEmpty)
            for name in CASCModel.onlineTensorNames {
                #expect(
                    online.gradients.dense[name]?.map(\.bitPattern) == full.gradients.dense[name]?.map(\.bitPattern),
                    "\(name)"
                )
            }
        }
        #expect(
            CASCModel.onlineTensorNames == ["M_v", "c_v", "m_v", "M_k", "c_k", "m_k", "log_lambda", "alpha_logit"]
        )
    }

    /// Encoded scoring is the raw scoring and the training forward pass, bit for bit; the weights are the gate's.
    @Test func encodedScoresAreRawAndTrainingScores() throws {
        let model = try Self.model(seed: 5, margin: 3, labelWeight: 0)
        var rng = SplitMix64(seed: 6)
        let c = smallConfiguration()
        let positive = makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki", "baby"])
        let negative = makeImage(&rng, configuration: c, regionCount: 2, keywords: ["car"])
        let text = "snooki baby"
        let query = model.encodeQuery(text)
        let scored = model.score(query: query, encodedImages: model.encodeImages([positive, negative]))
        #expect(scored == model.score(query: text, images: [positive, negative]))
        #expect(
            scored
                == model.encodeImages([negative, positive]).reversed().enumerated().map { index, image in
                    var one = model.score(query: query, encodedImages: [image])[0]
                    one.index = index
                    return one
                }
        )
        let loss = model.loss(
            for: TrainingExample(query: QueryInput(text, buckets: 64), positive: positive, negatives: [negative])
        )
        #expect(loss == 3 - scored[0].score + scored[1].score)
        #expect(scored.allSatisfy { $0.visualWeight + $0.languageWeight == 1 && $0.visualWeight != 0.5 })
        #expect(scored.allSatisfy { $0.score.isFinite && abs($0.score) <= 1 })
    }

    /// The explanation is the same forward pass: its score is the score's bits, its mixing weights are β (sum 1),
    /// and its attentions are the text-to-image weights averaged over the query words, computed here directly.
    @Test func explanationIsTheScoresForwardPass() throws {
        let model = try Self.model(seed: 7)
        var rng = SplitMix64(seed: 8)
        let c = smallConfiguration()
        let images = [
            makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki", "baby", "beach"]),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: ["car"]),
            makeImage(&rng, configuration: c, regionCount: 9, keywords: []),
        ]
        let query = model.encodeQuery("snooki baby bump")
        let encoded = model.encodeImages(images)
        let scored = model.score(query: query, encodedImages: encoded)
        let explained = model.explain(query: query, encodedImages: encoded)
        #expect(explained.map(\.score.bitPattern) == scored.map(\.score.bitPattern))
        for (explanation, score) in zip(explained, scored) {
            #expect(explanation.architecture == "casc")
            #expect(explanation.mixingWeights.map(\.name) == ["visual", "language"])
            #expect(explanation.mixingWeight("visual") == score.visualWeight)
            #expect(explanation.mixingWeight("language") == score.languageWeight)
            #expect(explanation.mixingWeights.reduce(0) { $0 + $1.weight } == 1)
        }
        #expect(explained[1].regionAttention == nil && explained[2].keywordAttention.isEmpty)
        #expect(explained[2].regionAttention?.rows == 3 && explained[2].regionAttention?.columns == 3)
        #expect(explained[1].mixingWeight("language") == 1 && explained[2].mixingWeight("visual") == 1)

        // Direct: the text-to-image softmax of each word over the image's fragments, averaged over the words.
        let d = 8
        for (slot, image) in images.enumerated() {
            let (r, k) = (image.regionCount, image.keywords.count)
            let block = encoded[slot].withValues { Array(UnsafeBufferPointer(start: $0, count: encoded[slot].count)) }
            for (branch, range, count) in [(0, 0..<(r * d), r), (1, (r * d)..<((r + k) * d), k)] where count > 0 {
                let fragments = Array(block[range])
                let direct = directAttention(
                    fragments,
                    query.vector,
                    d: d,
                    lambda: model.temperatures[branch].textToImage
                )
                let reported: [Float]
                if branch == 0 {
                    reported = try #require(explained[slot].regionAttention).weights
                } else {
                    let ranked = explained[slot].keywordAttention
                    #expect(ranked.map(\.weight) == ranked.map(\.weight).sorted(by: >))
                    reported = (0..<k).map { index in ranked.first { $0.index == index }!.weight }
                }
                #expect(abs(reported.reduce(0, +) - 1) < 1e-5)
                for (a, b) in zip(reported, direct) { #expect(abs(a - b) < 1e-5, "slot \(slot) branch \(branch)") }
            }
        }
    }

    /// `mean_j softmax_i(λ ū_ij)` in plain Swift from the equations.
    private func directAttention(_ fragments: [Float], _ words: [Float], d: Int, lambda: Float) -> [Float] {
        let (n, q) = (fragments.count / d, words.count / d)
        var leaky = [[Float]](repeating: [Float](repeating: 0, count: q), count: n)
        for i in 0..<n {
            for j in 0..<q {
                var s: Float = 0
                for c in 0..<d { s += fragments[i * d + c] * words[j * d + c] }
                leaky[i][j] = s > 0 ? s : 0.1 * s
            }
        }
        var average = [Float](repeating: 0, count: n)
        for j in 0..<q {
            let logits = (0..<n).map { i in
                lambda * leaky[i][j] / (leaky[i].reduce(0) { $0 + $1 * $1 } + 1e-8).squareRoot()
            }
            let top = logits.max()!
            let exps = logits.map { Float(Double($0 - top).expApprox) }
            let total = exps.reduce(0, +)
            for i in 0..<n { average[i] += exps[i] / total / Float(q) }
        }
        return average
    }

    /// Images without keywords, without regions or without either, and an empty query, all score finite; an empty
    /// query scores 0 for every image with an even mix.
    @Test func missingFragmentsAndEmptyQueriesScoreFinite() throws {
        let model = try Self.model(seed: 9)
        var rng = SplitMix64(seed: 10)
        let c = smallConfiguration()
        let images = [
            makeImage(&rng, configuration: c, regionCount: 0, keywords: ["snooki"]),
            makeImage(&rng, configuration: c, regionCount: 3, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 4, keywords: ["baby"]),
        ]
        let scored = model.score(query: "snooki baby", images: images)
        #expect(scored.allSatisfy { $0.score.isFinite && $0.visualWeight + $0.languageWeight == 1 })
        #expect(scored[0].languageWeight == 1 && scored[1].visualWeight == 1 && scored[2].visualWeight == 1)
        let empty = model.score(query: "", images: images)
        #expect(empty.allSatisfy { $0.score == 0 && $0.visualWeight == 0.5 && $0.languageWeight == 0.5 })
        let explained = model.explain(query: model.encodeQuery(""), encodedImages: model.encodeImages(images))
        #expect(explained.allSatisfy { $0.score == 0 && $0.regionAttention == nil && $0.keywordAttention.isEmpty })
        // Training on such images and queries stays finite too.
        let example = TrainingExample(query: QueryInput("snooki", buckets: 64), positive: images[2], negatives: images)
        let gradients = model.lossAndGradients(for: example, scope: .all)
        #expect(gradients.loss.isFinite)
        #expect(gradients.gradients.dense.values.allSatisfy { $0.allSatisfy(\.isFinite) })
        let emptyExample = TrainingExample(query: QueryInput("", buckets: 64), positive: images[3], negatives: images)
        #expect(model.lossAndGradients(for: emptyExample, scope: .all).loss == 4 * 0.2)
    }

    /// Bootstrap training through the generic trainer lowers the loss and is deterministic; fine-tuning the online
    /// part changes only it, and images encoded before it score exactly like freshly encoded ones after it.
    @Test func trainsDeterministicallyAndFineTunesOnlyTheOnlinePart() throws {
        let problem = Self.problem()
        let start: any ScoringModel = try Self.model(seed: 11, gate: false)
        func total(_ model: any ScoringModel) -> Float { problem.reduce(0) { $0 + model.loss(for: $1) } }
        func train(_ steps: Int) -> any ScoringModel {
            var trainer = start.makeTrainer(TrainerSettings(learningRate: 0.02, scope: .all))
            for _ in 0..<steps { _ = trainer.step(problem[...]) }
            return trainer.scoringModel
        }
        let trained = train(200)
        #expect(total(trained) < 0.4 * total(start), "loss \(total(start)) → \(total(trained))")
        #expect(trained.parameters == train(200).parameters)
        let hinge = { (model: any ScoringModel) in
            problem.allSatisfy { example in
                let scores = model.score(query: example.queryText, images: [example.positive] + example.negatives)
                return scores.dropFirst().allSatisfy { $0.score < scores[0].score }
            }
        }
        #expect(hinge(trained))

        // An intent shift: each query's clicks move to an image of another topic.
        let shifted = problem.map {
            TrainingExample(
                query: QueryInput($0.queryText, buckets: 64),
                positive: $0.negatives[0],
                negatives: [$0.positive]
            )
        }
        var tuner = trained.makeTrainer(TrainerSettings(learningRate: 0.05, scope: .onlinePart))
        for _ in 0..<30 { _ = tuner.step(shifted[...]) }
        let tuned = tuner.scoringModel
        let shiftedLoss = { (model: any ScoringModel) in shifted.reduce(Float(0)) { $0 + model.loss(for: $1) } }
        #expect(shiftedLoss(tuned) < shiftedLoss(trained), "\(shiftedLoss(trained)) → \(shiftedLoss(tuned))")
        for (before, after) in zip(trained.parameters.tensors, tuned.parameters.tensors) {
            let same = before.values.map(\.bitPattern) == after.values.map(\.bitPattern)
            #expect(same != CASCModel.onlineTensorNames.contains(before.name), "\(before.name)")
        }
        #expect(CASCModel.onlinePartKeepsImageEncodings && trained.sharesImageEncodings(with: tuned))
        #expect(!trained.sharesImageEncodings(with: start))
        let images = problem.flatMap { [$0.positive] + $0.negatives }
        let cached = trained.encodeImages(images)
        for text in ["snooki baby", "red car"] {
            let query = tuned.encodeQuery(text)
            #expect(tuned.score(query: query, encodedImages: cached) == tuned.score(query: text, images: images))
        }
    }

    @Test func parametersAreCheckedAndRoundTrip() throws {
        let model = try Self.model(seed: 1)
        let rebuilt = try ModelArchitectures.model(from: model.parameters)
        #expect(rebuilt is CASCModel && rebuilt.parameters == model.parameters)
        #expect(ModelArchitectures.ids.contains("casc"))
        #expect(
            model.parameters.tensors.map(\.name) == [
                "E_q", "b_q", "E_k", "b_k", "W_v", "b_v", "W_1", "b_1", "W_2", "b_2", "M_v", "c_v", "m_v", "M_k", "c_k",
                "m_k", "log_lambda", "alpha_logit",
            ]
        )
        #expect(model.parameters["W_2"]?.rows == 16 && model.parameters["W_2"]?.columns == 8)
        var wrongShape = model.parameters
        wrongShape.tensors[8].rows = 15
        wrongShape.tensors[8].values.removeLast(8)
        #expect(throws: ModelError.self) { try CASCModel(parameters: wrongShape) }
        var missing = model.parameters
        missing.hyperParameters["L"] = nil
        #expect(throws: ModelError.self) { try CASCModel(parameters: missing) }
        #expect(throws: ModelError.self) {
            try CASCModel(parameters: AMCWeights(configuration: smallConfiguration(), seed: 1).parameters)
        }
        // The shared model settings build a CASC model (L and label_weight take their defaults).
        let defaults = try ModelArchitectures.initialParameters(
            architecture: "casc",
            seed: 1,
            hyperParameters: ModelConfiguration().hyperParameters
        )
        let built = try CASCModel(parameters: defaults)
        #expect(built.labelBuckets == 1024 && built.labelLossWeight == 1 && built.gateDimension == 32)
        #expect(abs(built.alpha - 0.8) < 1e-6 && abs(built.temperatures[1].textToImage - 9) < 1e-4)
        // Labels are hashed query tokens: stable, distinct, inside L.
        func labels(_ text: String) -> [Int32] { model.labels(of: QueryInput(text, buckets: 64).wordBags) }
        #expect(labels("red red car") == labels("car red") && labels("red red car").count == 2)
        #expect(labels("").isEmpty && labels("snooki baby bump").allSatisfy { $0 >= 0 && $0 < 16 })
        // One label against its definition: FNV-1a over (index, count bits) little-endian, modulo L.
        let red = LetterTrigramHasher.encode("red", buckets: 64)
        var bytes: [UInt8] = []
        for (index, count) in zip(red.indices, red.counts) {
            bytes += withUnsafeBytes(of: UInt32(index).littleEndian, Array.init)
            bytes += withUnsafeBytes(of: count.bitPattern.littleEndian, Array.init)
        }
        #expect(model.label(of: red) == Int32(LetterTrigramHasher.fnv1a(bytes) % 16))
    }
}
