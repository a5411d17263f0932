import Testing

@testable import Model

@Suite struct LateFusionModelTests {
    /// The small late-fusion dimensions of the gradient checks (H = 64, d = 8, D = 6).
    static func smallHyperParameters(margin: Double = 0.2) -> [String: Double] {
        ["H": 64, "d": 8, "D": 6, "margin": margin]
    }

    static func model(seed: UInt64, margin: Double = 0.2, gate: Bool = true) throws -> LateFusionModel {
        var parameters = try LateFusionModel.initialParameters(
            seed: seed,
            hyperParameters: smallHyperParameters(margin: margin)
        )
        if gate {
            // A gate away from its even-mix start, so its gradient and β are not symmetric.
            var rng = SplitMix64(seed: seed &+ 99)
            for index in parameters.tensors.indices where ["G", "g"].contains(parameters.tensors[index].name) {
                for i in parameters.tensors[index].values.indices {
                    parameters.tensors[index].values[i] = rng.nextSymmetric(0.8)
                }
            }
        }
        return try LateFusionModel(parameters: parameters)
    }

    /// Central differences in Float (ε = 1e-3) against the hand-written backward pass, for every tensor; the
    /// embedding tables' gradients are exactly the rows of the example's buckets.
    @Test(arguments: [0, 1, 2])
    func analyticGradientMatchesFiniteDifferences(caseIndex: Int) throws {
        // margin 2 keeps every hinge term active (|s| ≤ 1), so the loss is smooth around the test point.
        let model = try Self.model(seed: 42 + UInt64(caseIndex), margin: 2)
        let c = smallConfiguration()
        var rng = SplitMix64(seed: 0xFACE + UInt64(caseIndex))
        let query = LetterTrigramHasher.encode("snooki baby bump", buckets: 64)
        // Case 1 has a negative without keywords (β_v = 1), case 2 one without regions (β_k = 1).
        let positive = makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki", "baby", "beach"])
        let negatives = [
            makeImage(&rng, configuration: c, regionCount: 4, keywords: caseIndex == 1 ? [] : ["red car", "bump"]),
            makeImage(&rng, configuration: c, regionCount: caseIndex == 2 ? 0 : 3, keywords: ["kitten", "snow"]),
        ]
        let example = TrainingExample(query: query, positive: positive, negatives: negatives)
        let analytic = model.lossAndGradients(for: example, scope: .all)
        #expect(analytic.loss > 0)
        #expect(analytic.loss == model.loss(for: example))
        let keywordRows = Set((positive.keywords + negatives.flatMap(\.keywords)).flatMap(\.indices).map(Int.init))
        #expect(Set(analytic.gradients.sparse["E_q"]?.rows ?? []) == Set(query.indices.map(Int.init)))
        #expect(Set(analytic.gradients.sparse["E_k"]?.rows ?? []) == keywordRows)

        for tensor in LateFusionModel.Tensor.allCases {
            let stored = model.parameters.tensors[tensor.index]
            var entries: [Int] = []
            switch tensor {
            case .queryEmbedding, .keywordEmbedding:
                let rows = tensor == .queryEmbedding ? query.indices.map(Int.init) : keywordRows.sorted()
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
            #expect(magnitude > 0, "\(tensor.rawValue): sampled gradient entries are all zero")
        }
    }

    /// The online part's backward pass stops at the gate and gives exactly the full pass's gate gradients.
    @Test func onlineGradientIsTheFullGradientsGatePart() throws {
        let model = try Self.model(seed: 3, margin: 0.8)
        let examples = TrainerTests.examples(smallConfiguration(), count: 4, seed: 21)
        for example in examples {
            let full = model.lossAndGradients(for: example, scope: .all)
            let online = model.lossAndGradients(for: example, scope: .onlinePart)
            #expect(full.loss == online.loss)
            #expect(Set(online.gradients.dense.keys) == ["G", "g"] && online.gradients.sparse.isEmpty)
            for name in ["G", "g"] {
                #expect(
                    online.gradients.dense[name]?.map(\.bitPattern) == full.gradients.dense[name]?.map(\.bitPattern)
                )
            }
        }
    }

    /// Scoring through the cached encodings is the same function the loss uses, and β is the query's gate.
    @Test func encodedScoresAreTheTrainingScores() throws {
        let model = try Self.model(seed: 5, margin: 3)
        var rng = SplitMix64(seed: 6)
        let c = smallConfiguration()
        let positive = makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki", "baby"])
        let negative = makeImage(&rng, configuration: c, regionCount: 2, keywords: ["car"])
        let query = model.encodeQuery("snooki baby")
        let scored = model.score(query: query, encodedImages: model.encodeImages([positive, negative]))
        let loss = model.loss(
            for: TrainingExample(query: query.input, positive: positive, negatives: [negative])
        )
        #expect(loss == 3 - scored[0].score + scored[1].score)
        let beta = model.gate(query.vector)
        #expect(scored.allSatisfy { $0.visualWeight == beta.visual && $0.languageWeight == beta.keyword })
        #expect(beta.visual + beta.keyword == 1 && beta.visual != 0.5)
        // The explanation is the mix and no attention, with the score it explains.
        let explained = model.explain(query: query, encodedImages: model.encodeImages([positive, negative]))
        #expect(explained.map(\.score) == scored.map(\.score))
        #expect(explained.allSatisfy { $0.architecture == "late_fusion" && $0.mixingWeight("visual") == beta.visual })
        #expect(explained.allSatisfy { $0.mixingWeight("language") == beta.keyword })
        #expect(explained.allSatisfy { $0.regionAttention == nil && $0.keywordAttention.isEmpty })
        // A missing modality puts all the weight on the other.
        let keywordsOnly = makeImage(&rng, configuration: c, regionCount: 0, keywords: ["snooki"])
        let regionsOnly = makeImage(&rng, configuration: c, regionCount: 3, keywords: [])
        let single = model.score(query: query, encodedImages: model.encodeImages([keywordsOnly, regionsOnly]))
        #expect(single[0].visualWeight == 0 && single[0].languageWeight == 1)
        #expect(single[1].visualWeight == 1 && single[1].languageWeight == 0)
    }

    /// Bootstrap training through the generic trainer lowers the loss; fine-tuning the online part changes only
    /// the gate, and images encoded before it score exactly like freshly encoded ones after it.
    @Test func trainsThroughTheGenericTrainerAndKeepsEncodingsWhenFineTuned() throws {
        let c = smallConfiguration()
        let problem = TrainingTests.problem(c).map {
            TrainingExample(query: $0.query, positive: $0.positive, negatives: $0.negatives)
        }
        let start: any ScoringModel = try Self.model(seed: 11, gate: false)
        func total(_ model: any ScoringModel) -> Float { problem.reduce(0) { $0 + model.loss(for: $1) } }
        var trainer = start.makeTrainer(TrainerSettings(learningRate: 0.02, scope: .all))
        #expect(trainer is NamedTensorTrainer)
        for _ in 0..<150 { _ = trainer.step(problem[...]) }
        let trained = trainer.scoringModel
        #expect(total(start) > 0.5)
        #expect(total(trained) < 0.25 * total(start), "loss \(total(start)) → \(total(trained))")

        // An intent shift: each query's clicks move to an image of another topic.
        let shifted = problem.map {
            TrainingExample(query: $0.query, positive: $0.negatives[0], negatives: [$0.positive])
        }
        var tuner = trained.makeTrainer(TrainerSettings(learningRate: 0.05, scope: .onlinePart))
        for _ in 0..<20 { _ = tuner.step(shifted[...]) }
        let tuned = tuner.scoringModel
        let shiftedLoss = { (model: any ScoringModel) in shifted.reduce(Float(0)) { $0 + model.loss(for: $1) } }
        #expect(shiftedLoss(tuned) < shiftedLoss(trained), "\(shiftedLoss(trained)) → \(shiftedLoss(tuned))")
        for (before, after) in zip(trained.parameters.tensors, tuned.parameters.tensors) {
            let same = before.values.map(\.bitPattern) == after.values.map(\.bitPattern)
            #expect(same != LateFusionModel.onlineTensorNames.contains(before.name), "\(before.name)")
        }
        #expect(LateFusionModel.onlinePartKeepsImageEncodings && trained.sharesImageEncodings(with: tuned))
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

    @Test func parametersAreCheckedAndRoundTrip() throws {
        let model = try Self.model(seed: 1)
        #expect(try LateFusionModel(parameters: model.parameters).parameters == model.parameters)
        #expect(model.parameters.tensors.map(\.name) == ["E_q", "b_q", "E_k", "b_k", "W_v", "b_v", "G", "g"])
        #expect(model.parameters["E_q"]?.rows == 64 && model.parameters["E_q"]?.columns == 8)
        var wrongShape = model.parameters
        wrongShape.tensors[6].rows = 3
        wrongShape.tensors[6].values += [Float](repeating: 0, count: 8)
        #expect(throws: ModelError.self) { try LateFusionModel(parameters: wrongShape) }
        var missing = model.parameters
        missing.hyperParameters["D"] = nil
        #expect(throws: ModelError.self) { try LateFusionModel(parameters: missing) }
        #expect(throws: ModelError.self) {
            try LateFusionModel(parameters: AMCWeights(configuration: smallConfiguration(), seed: 1).parameters)
        }
    }
}
