import Testing

@testable import Model

@Suite struct ScoringModelTests {
    @Test func theTableBuildsEachArchitectureFromItsParameters() throws {
        #expect(ModelArchitectures.ids == ["amc", "late_fusion", "casc", "ams", "caan"])
        let small: [String: Double] = ["H": 64, "d": 8, "a": 4, "h": 4, "D": 6, "margin": 0.3]
        for id in ModelArchitectures.ids {
            let parameters = try ModelArchitectures.initialParameters(architecture: id, seed: 7, hyperParameters: small)
            #expect(parameters.architecture == id)
            let model = try ModelArchitectures.model(from: parameters)
            #expect(model.architecture == id && type(of: model).architectureVersion == 1)
            #expect(model.parameters == parameters)
            #expect(model.hashBuckets == 64 && model.regionDimension == 6 && model.isFinite)
            let online = type(of: model).onlineTensorNames
            #expect(!online.isEmpty && online.allSatisfy { parameters[$0] != nil })
            // Same seed, same parameters.
            #expect(
                try ModelArchitectures.initialParameters(architecture: id, seed: 7, hyperParameters: small)
                    == parameters
            )
        }
        let amc = try ModelArchitectures.model(
            from: AMCWeights(configuration: smallConfiguration(), seed: 3).parameters
        )
        #expect(amc is AMCModel)
        #expect((amc as? AMCModel)?.weights == AMCWeights(configuration: smallConfiguration(), seed: 3))
        // The learner's model settings are the hyper-parameters of either architecture.
        let c = smallConfiguration(margin: 0.3)
        let fromSettings = try ModelArchitectures.initialParameters(
            architecture: "amc",
            seed: 5,
            hyperParameters: c.hyperParameters
        )
        #expect(fromSettings == AMCWeights(configuration: c, seed: 5).parameters)
        let lateFusion = try ModelArchitectures.initialParameters(
            architecture: "late_fusion",
            seed: 5,
            hyperParameters: c.hyperParameters
        )
        #expect(lateFusion.hyperParameters == ["H": 64, "d": 8, "D": 6, "margin": Double(Float(0.3))])
        #expect(ModelConfiguration(hyperParameters: c.hyperParameters) == c)
        var fromLateFusion = c
        (fromLateFusion.attentionDimension, fromLateFusion.modalityDimension) = (32, 32)
        #expect(ModelConfiguration(hyperParameters: lateFusion.hyperParameters) == fromLateFusion)
        // Defaults fill what is not given.
        let defaults = try ModelArchitectures.initialParameters(architecture: "amc", seed: 1, hyperParameters: [:])
        #expect(try AMCWeights(parameters: defaults).configuration == ModelConfiguration())
    }

    @Test func unknownArchitecturesAndBadHyperParametersAreRefused() throws {
        var parameters = AMCWeights(configuration: smallConfiguration(), seed: 3).parameters
        parameters.architecture = "no_such_architecture"
        #expect(throws: ModelError.self) { try ModelArchitectures.model(from: parameters) }
        do {
            _ = try ModelArchitectures.architecture("no_such_architecture")
            Issue.record("an unknown architecture was accepted")
        } catch let error as ModelError {
            #expect(error.code == .unknownArchitecture)
        }
        for id in ModelArchitectures.ids {
            #expect(throws: ModelError.self) {
                try ModelArchitectures.initialParameters(architecture: id, seed: 1, hyperParameters: ["d": 0.5])
            }
        }
    }

    /// The AMC conformer is AMC: scores through the protocol are the AMC model's, bit for bit, and its gradients
    /// are ``AMCModel/lossAndGradients(query:positive:negatives:)``'s restricted to the scope.
    @Test func amcThroughTheProtocolIsUnchanged() {
        let c = smallConfiguration(margin: 0.6)
        let amc = AMCModel(weights: AMCWeights(configuration: c, seed: 4))
        let model: any ScoringModel = amc
        let example = TrainerTests.examples(c, count: 1, seed: 9)[0]
        let images = [example.positive] + example.negatives
        let direct = amc.score(query: amc.encodeQuery("snooki baby"), images: images)
        #expect(
            model.score(query: model.encodeQuery("snooki baby"), encodedImages: model.encodeImages(images)) == direct
        )
        let reference = amc.lossAndGradients(
            query: example.query,
            positive: example.positive,
            negatives: example.negatives
        )
        let online = model.lossAndGradients(for: example, scope: .onlinePart)
        #expect(online.loss == reference.loss && model.loss(for: example) == reference.loss)
        #expect(Set(online.gradients.dense.keys) == Set(AMCModel.onlineTensorNames))
        let all = model.lossAndGradients(for: example, scope: .all)
        for tensor in AMCTensor.allCases {
            #expect(all.gradients.dense[tensor.rawValue] == reference.gradients[tensor])
        }
        #expect(model.makeTrainer(TrainerSettings(learningRate: 0.01, scope: .all)) is ModelTrainer)
    }

    /// Adam over named tensors is AMC's Adam: dense steps over AMC's parameters give the bits of
    /// ``AdamOptimizer/update(_:gradients:scope:)``.
    @Test func namedTensorAdamIsAMCsAdam() throws {
        let c = smallConfiguration(margin: 0.6)
        var weights = AMCWeights(configuration: c, seed: 17)
        var parameters = weights.parameters
        var adam = AdamOptimizer(configuration: c, learningRate: 0.01)
        var named = NamedTensorAdam(learningRate: 0.01)
        for (step, example) in TrainerTests.examples(c, count: 3, seed: 18).enumerated() {
            let gradients = AMCModel(weights: weights).lossAndGradients(
                query: example.query,
                positive: example.positive,
                negatives: example.negatives
            ).gradients
            adam.update(&weights, gradients: gradients)
            var dense: [String: [Float]] = [:]
            for tensor in AMCTensor.allCases { dense[tensor.rawValue] = gradients[tensor] }
            named.update(&parameters, gradients: ParameterGradients(dense: dense))
            TrainerTests.expectBitIdentical(try AMCWeights(parameters: parameters), weights, "step \(step)")
        }
        #expect(named.step == 3)
    }

    /// A row-sparse gradient updates only its rows; on those rows it equals the dense update of a gradient that is
    /// zero elsewhere, and untouched rows keep their moments (lazy Adam).
    @Test func sparseRowsUpdateOnlyTheirRows() throws {
        let parameters = try LateFusionModelTests.model(seed: 2).parameters
        let columns = 8
        var rows = SparseRows(columns: columns)
        let vector: [Float] = (0..<columns).map { Float($0) - 3.5 }
        vector.withUnsafeBufferPointer { rows.add(row: 5, scale: 0.5, $0) }
        vector.withUnsafeBufferPointer { rows.add(row: 9, scale: -1, $0) }
        vector.withUnsafeBufferPointer { rows.add(row: 5, scale: 0.25, $0) }
        #expect(rows.rows == [5, 9] && rows[row: 5] == vector.map { 0.5 * $0 + 0.25 * $0 })
        var sparseParameters = parameters
        var denseParameters = parameters
        var sparseAdam = NamedTensorAdam(learningRate: 0.1)
        var denseAdam = NamedTensorAdam(learningRate: 0.1)
        sparseAdam.update(&sparseParameters, gradients: ParameterGradients(sparse: ["E_k": rows]))
        var dense = [Float](repeating: 0, count: 64 * columns)
        for row in [5, 9] { for j in 0..<columns { dense[row * columns + j] = rows[row: row][j] } }
        denseAdam.update(&denseParameters, gradients: ParameterGradients(dense: ["E_k": dense]))
        #expect(sparseParameters == denseParameters)
        let before = parameters["E_k"]!.values
        let after = sparseParameters["E_k"]!.values
        for row in 0..<64 {
            let changed =
                before[(row * columns)..<((row + 1) * columns)] != after[(row * columns)..<((row + 1) * columns)]
            #expect(changed == [5, 9].contains(row), "row \(row)")
        }
        // Every other tensor is untouched.
        for (a, b) in zip(parameters.tensors, sparseParameters.tensors) where a.name != "E_k" { #expect(a == b) }
    }

    /// Over AMC's online part (dense gradients) the generic trainer computes ModelTrainer's steps bit for bit.
    @Test(arguments: [1, 4, 7])
    func genericTrainerEqualsAMCsTrainerOnTheOnlinePart(batchSize: Int) throws {
        let c = smallConfiguration(margin: 0.6)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 23))
        let examples = TrainerTests.examples(c, count: 4 * batchSize, seed: 24)
        var generic = NamedTensorTrainer(
            model: model,
            settings: TrainerSettings(learningRate: 0.01, scope: .onlinePart)
        )
        var amc = ModelTrainer(
            model: model,
            optimizer: AdamOptimizer(learningRate: 0.01),
            scope: .modalityAttentionOnly
        )
        for start in stride(from: 0, to: examples.count, by: batchSize) {
            let batch = examples[start..<(start + batchSize)]
            let genericLoss = generic.step(batch)
            let amcLoss = amc.step(batch)
            #expect(genericLoss == amcLoss)
        }
        let trained = try #require(generic.scoringModel as? AMCModel)
        TrainerTests.expectBitIdentical(trained.weights, amc.model.weights, "B=\(batchSize)")
        #expect(trained.weights != model.weights)
    }

    /// A query or image encoded by one architecture is refused by another (AMC's engine reads them through raw
    /// pointers, so a foreign encoding must stop the process rather than be read out of bounds).
    @Test func foreignEncodingsAreRefused() async {
        await #expect(processExitsWith: .failure) {
            let small: [String: Double] = ["H": 64, "d": 8, "a": 4, "h": 4, "D": 6]
            let amc = try ModelArchitectures.model(
                from: ModelArchitectures.initialParameters(architecture: "amc", seed: 1, hyperParameters: small)
            )
            let lateFusion = try ModelArchitectures.model(
                from: ModelArchitectures.initialParameters(architecture: "late_fusion", seed: 1, hyperParameters: small)
            )
            _ = amc.score(query: lateFusion.encodeQuery("snooki"), encodedImages: [])
        }
        await #expect(processExitsWith: .failure) {
            let small: [String: Double] = ["H": 64, "d": 8, "a": 4, "h": 4, "D": 6]
            let amc = try ModelArchitectures.model(
                from: ModelArchitectures.initialParameters(architecture: "amc", seed: 1, hyperParameters: small)
            )
            let lateFusion = try ModelArchitectures.model(
                from: ModelArchitectures.initialParameters(architecture: "late_fusion", seed: 1, hyperParameters: small)
            )
            let image = ImageFeatures(regions: [Float](repeating: 0.5, count: 12), regionCount: 2, keywords: [])
            _ = amc.score(query: amc.encodeQuery("snooki"), encodedImages: lateFusion.encodeImages([image]))
        }
    }

    /// A fine-tune's part applied to a held model builds the model its full parameters build: same tensors, same
    /// packed copies (AMC), bit-identical scores; a part that does not fit is refused.
    @Test(arguments: ModelArchitectures.ids)
    func applyingAPartBuildsTheModelOfTheReplacedParameters(architecture: String) throws {
        let small: [String: Double] = ["H": 64, "d": 8, "a": 4, "h": 4, "D": 6, "margin": 0.3]
        let parent = try ModelArchitectures.model(
            from: ModelArchitectures.initialParameters(architecture: architecture, seed: 11, hyperParameters: small)
        )
        var rng = SplitMix64(seed: 5)
        let onlineNames = type(of: parent).onlineTensorNames
        var part = parent.parameters
        part.tensors = part.tensors.filter { onlineNames.contains($0.name) }
        for index in part.tensors.indices {
            for i in part.tensors[index].values.indices { part.tensors[index].values[i] = rng.nextSymmetric(0.5) }
        }
        let applied = try parent.applyingPart(part)
        let rebuilt = try ModelArchitectures.model(from: parent.parameters.replacingTensors(with: part))
        #expect(applied.parameters == rebuilt.parameters)
        if let applied = applied as? AMCModel, let rebuilt = rebuilt as? AMCModel {
            #expect(applied.packed.data == rebuilt.packed.data)
        }
        let c = smallConfiguration()
        let images = (0..<4).map { _ in
            makeImage(&rng, configuration: c, regionCount: 3, keywords: ["red car", "snow"])
        }
        let query = "red sports car"
        #expect(applied.score(query: query, images: images) == rebuilt.score(query: query, images: images))
        #expect(applied.score(query: query, images: images) != parent.score(query: query, images: images))

        var misshapen = part
        misshapen.tensors[0] = NamedTensor(name: part.tensors[0].name, rows: 1, columns: 1, values: [0])
        #expect(throws: ModelError.self) { try parent.applyingPart(misshapen) }
        var unknown = part
        unknown.tensors[0].name = "no_such_tensor"
        #expect(throws: ModelError.self) { try parent.applyingPart(unknown) }
    }
}
