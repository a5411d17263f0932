import Testing

@testable import Model

@Suite struct TrainerTests {
    /// Random training pairs over the small configuration: a few-word query, T = 2 negatives, 4 regions and
    /// 1–3 keywords per image.
    static func examples(_ c: ModelConfiguration, count: Int, seed: UInt64) -> [TrainingExample] {
        var rng = SplitMix64(seed: seed)
        let words = ["snooki", "baby", "bump", "red", "car", "snow", "kitten", "beach", "road", "dog", "sofa", "cat"]
        func pick(_ n: Int) -> [String] { (0..<n).map { _ in words[Int(rng.next() % UInt64(words.count))] } }
        func image() -> ImageFeatures {
            let keywords = pick(1 + Int(rng.next() % 3))
            return makeImage(&rng, configuration: c, regionCount: 4, keywords: keywords)
        }
        return (0..<count).map { _ in
            let query = pick(2).joined(separator: " ")
            return TrainingExample(
                query: LetterTrigramHasher.encode(query, buckets: c.hashBuckets),
                positive: image(),
                negatives: [image(), image()]
            )
        }
    }

    static func sum(_ gradients: ArraySlice<TrainingLoss>, _ c: ModelConfiguration) -> AMCWeights {
        var total = AMCWeights(zerosFor: c)
        for result in gradients {
            for tensor in AMCTensor.allCases {
                let g = result.gradients[tensor]
                total.withTensor(tensor) { values in
                    for i in values.indices { values[i] += g[i] }
                }
            }
        }
        return total
    }

    static func expectBitIdentical(_ a: AMCWeights, _ b: AMCWeights, _ comment: String = "") {
        for tensor in AMCTensor.allCases {
            #expect(a[tensor].map(\.bitPattern) == b[tensor].map(\.bitPattern), "\(comment) \(tensor.rawValue)")
        }
    }

    /// One step = Adam on (Σ first ⌈B/2⌉ per-example gradients + Σ the rest) / B, computed by hand from
    /// `lossAndGradients` (the full backward). For `.modalityAttentionOnly` this also shows that the MTN-only
    /// backward pass gives exactly the full backward's MTN gradients.
    @Test(arguments: [AdamOptimizer.Scope.all, .modalityAttentionOnly], [1, 4, 5])
    func stepIsAdamOnTheMeanOfPerExampleGradients(scope: AdamOptimizer.Scope, batchSize: Int) {
        let c = smallConfiguration(margin: 0.6)
        let weights = AMCWeights(configuration: c, seed: 31)
        var batch = Self.examples(c, count: batchSize, seed: 77)
        if batchSize > 1 { batch[1].negatives = [] }  // a pair with no negatives: zero loss, no backward pass
        var trainer = ModelTrainer(
            model: AMCModel(weights: weights),
            optimizer: AdamOptimizer(learningRate: 0.01),
            scope: scope
        )
        let loss = trainer.step(batch[...])

        let model = AMCModel(weights: weights)
        let results = batch.map {
            model.lossAndGradients(query: $0.query, positive: $0.positive, negatives: $0.negatives)
        }
        let split = (batchSize + 1) / 2
        let first = Self.sum(results[..<split], c)
        let second = Self.sum(results[split...], c)
        var mean = AMCWeights(zerosFor: c)
        for tensor in AMCTensor.allCases {
            let (x, y) = (first[tensor], second[tensor])
            mean.withTensor(tensor) { values in
                for i in values.indices { values[i] = (x[i] + y[i]) / Float(batchSize) }
            }
        }
        var expected = weights
        var adam = AdamOptimizer(configuration: c, learningRate: 0.01)
        adam.update(&expected, gradients: mean, scope: scope)

        Self.expectBitIdentical(trainer.model.weights, expected, "\(scope) B=\(batchSize)")
        let expectedLoss =
            results[..<split].reduce(Float(0)) { $0 + $1.loss } + results[split...].reduce(Float(0)) { $0 + $1.loss }
        #expect(loss == expectedLoss)
        #expect(results.contains { $0.loss > 0 })
        #expect(trainer.optimizer.step == 1)
        // The packed copy the kernels read was kept in sync with the weights.
        let rebuilt = AMCModel(weights: trainer.model.weights)
        #expect(trainer.model.packed.data == rebuilt.packed.data)
    }

    /// The MTN-only gradient is the full gradient restricted to the six MTN tensors.
    @Test func modalityOnlyGradientIsTheFullGradientsMTNPart() {
        let c = smallConfiguration(margin: 0.6)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 5))
        let batch = Self.examples(c, count: 6, seed: 8)
        var full = ModelTrainer(model: model, scope: .all)
        var mtn = ModelTrainer(model: model, scope: .modalityAttentionOnly)
        let (fullLoss, fullGradient) = full.meanGradient(batch[...])
        let (mtnLoss, mtnGradient) = mtn.meanGradient(batch[...])
        #expect(fullLoss == mtnLoss)
        for tensor in AMCTensor.allCases {
            if tensor.isModalityAttention {
                #expect(mtnGradient[tensor].map(\.bitPattern) == fullGradient[tensor].map(\.bitPattern))
                #expect(mtnGradient[tensor].contains { $0 != 0 }, "\(tensor.rawValue)")
            } else {
                #expect(mtnGradient[tensor].allSatisfy { $0 == 0 }, "\(tensor.rawValue)")
                #expect(fullGradient[tensor].contains { $0 != 0 }, "\(tensor.rawValue)")
            }
        }
        // Nothing was stepped.
        #expect(full.optimizer.step == 0 && full.model.weights == model.weights)
    }

    /// With auxiliary single-modality losses the minibatch gradient is the AMC gradient plus the weight times the
    /// image-only and keyword-only gradients of the same shared parameters (the MTN gets only the AMC part), and
    /// the returned loss is the AMC loss alone.
    @Test func auxiliaryLossesAddTheWeightedSingleModalityGradients() {
        let c = smallConfiguration(margin: 0.6)
        let weights = AMCWeights(configuration: c, seed: 12)
        let batch = Self.examples(c, count: 5, seed: 13)
        func mean(_ mode: ModalityMode) -> (Float, AMCWeights) {
            var trainer = ModelTrainer(model: AMCModel(weights: weights, mode: mode), scope: .all)
            return trainer.meanGradient(batch[...])
        }
        let (amcLoss, amc) = mean(.attention)
        let (_, image) = mean(.imageOnly)
        let (_, keyword) = mean(.keywordOnly)
        var auxiliary = ModelTrainer(model: AMCModel(weights: weights), scope: .all)
        auxiliary.auxiliaryModalityWeight = 0.5
        let (loss, combined) = auxiliary.meanGradient(batch[...])
        #expect(loss == amcLoss)
        var differs = 0
        for tensor in AMCTensor.allCases {
            let (a, i, k, g) = (amc[tensor], image[tensor], keyword[tensor], combined[tensor])
            for index in g.indices {
                let expected = a[index] + 0.5 * i[index] + 0.5 * k[index]
                #expect(abs(g[index] - expected) <= 1e-5 * max(1, abs(expected)), "\(tensor.rawValue)[\(index)]")
                if g[index] != a[index] { differs += 1 }
            }
            if tensor.isModalityAttention { #expect(g == a, "\(tensor.rawValue) gets only the AMC gradient") }
        }
        #expect(differs > 0)
    }

    @Test func modalityOnlyStepsChangeExactlyTheSixMTNTensors() {
        let c = smallConfiguration()
        let start = AMCWeights(configuration: c, seed: 13)
        let examples = Self.examples(c, count: 24, seed: 14)
        var trainer = ModelTrainer(model: AMCModel(weights: start), scope: .modalityAttentionOnly)
        for step in 0..<6 { _ = trainer.step(examples[(step * 4)..<(step * 4 + 4)]) }
        var changed = 0
        for tensor in AMCTensor.allCases {
            let same = trainer.model.weights[tensor].map(\.bitPattern) == start[tensor].map(\.bitPattern)
            if tensor.isModalityAttention {
                if !same { changed += 1 }
            } else {
                #expect(same, "\(tensor.rawValue) changed under a modality-only update")
            }
        }
        #expect(changed == 6)
    }

    /// Same seed and data → bit-identical weights, whether the two halves of each minibatch ran on two threads
    /// or one after the other.
    @Test(arguments: [AdamOptimizer.Scope.all, .modalityAttentionOnly])
    func trainingIsDeterministic(scope: AdamOptimizer.Scope) {
        let c = smallConfiguration()
        let examples = Self.examples(c, count: 48, seed: 15)
        func train(twoThreads: Bool) -> ModelTrainer {
            var trainer = ModelTrainer(
                model: AMCModel(weights: AMCWeights(configuration: c, seed: 16)),
                optimizer: AdamOptimizer(learningRate: 0.01),
                scope: scope
            )
            trainer.usesTwoThreads = twoThreads
            for epoch in 0..<3 {
                for start in stride(from: 0, to: examples.count, by: 7 + epoch) {
                    _ = trainer.step(examples[start..<min(start + 7 + epoch, examples.count)])
                }
            }
            return trainer
        }
        let a = train(twoThreads: true)
        let b = train(twoThreads: true)
        let serial = train(twoThreads: false)
        Self.expectBitIdentical(a.model.weights, b.model.weights, "rerun")
        Self.expectBitIdentical(a.model.weights, serial.model.weights, "serial")
        #expect(a.model.weights != AMCWeights(configuration: c, seed: 16))
    }

    /// Examples that carry their images' encodings train the MTN to the same bits as examples without (the
    /// forward pass reads the encodings), and a full step ignores them (it needs the features for the encoders).
    @Test(arguments: [AdamOptimizer.Scope.all, .modalityAttentionOnly])
    func examplesWithEncodingsTrainToTheSameBits(scope: AdamOptimizer.Scope) {
        let c = smallConfiguration(margin: 0.6)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 41))
        let plain = Self.examples(c, count: 6, seed: 5)
        let encoded = plain.map { example in
            var example = example
            let images = model.encodeImages([example.positive] + example.negatives)
            example.encoded = TrainingExample.EncodedImages(positive: images[0], negatives: Array(images.dropFirst()))
            return example
        }
        func train(_ examples: [TrainingExample]) -> (losses: [Float], model: AMCModel) {
            var trainer = ModelTrainer(model: model, optimizer: AdamOptimizer(learningRate: 0.01), scope: scope)
            let losses = [trainer.step(examples[0..<3]), trainer.step(examples[3..<6]), trainer.step(examples[...])]
            return (losses, trainer.model)
        }
        let (withFeatures, withEncodings) = (train(plain), train(encoded))
        #expect(withFeatures.losses.map(\.bitPattern) == withEncodings.losses.map(\.bitPattern))
        Self.expectBitIdentical(withFeatures.model.weights, withEncodings.model.weights, "\(scope)")
        #expect(withFeatures.model.weights != model.weights)
        for (a, b) in zip(plain, encoded) {
            #expect(model.loss(for: a).bitPattern == model.loss(for: b).bitPattern)
        }
    }

    /// An example whose encodings were made by a different image encoder shows that the forward pass reads them.
    @Test func theForwardPassReadsTheEncodingsWhenGiven() {
        let c = smallConfiguration(margin: 0.6)
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 41))
        let other = AMCModel(weights: AMCWeights(configuration: c, seed: 42))
        var example = Self.examples(c, count: 1, seed: 9)[0]
        let plainLoss = model.loss(for: example)
        let images = other.encodeImages([example.positive] + example.negatives)
        example.encoded = TrainingExample.EncodedImages(positive: images[0], negatives: Array(images.dropFirst()))
        #expect(model.loss(for: example) != plainLoss)
    }

    @Test func lossFallsWithTheTrainer() {
        let c = smallConfiguration()
        let problem = TrainingTests.problem(c).map {
            TrainingExample(query: $0.query, positive: $0.positive, negatives: $0.negatives)
        }
        let start = AMCWeights(configuration: c, seed: 11)
        var trainer = ModelTrainer(
            model: AMCModel(weights: start),
            optimizer: AdamOptimizer(learningRate: 0.01),
            scope: .all
        )
        let initial = trainer.step(problem[...])
        var last = initial
        for _ in 0..<150 { last = trainer.step(problem[...]) }
        let final = problem.reduce(Float(0)) {
            $0 + trainer.model.loss(query: $1.query, positive: $1.positive, negatives: $1.negatives)
        }
        print("trainer loss: \(initial) -> \(last) -> \(final)")
        #expect(initial > 0.5)
        #expect(final < initial * 0.25)
    }

    /// A deliberately huge learning rate overflows the weights; `isFinite` notices. (1e30 is not enough: after
    /// one step every tanh saturates, the gradients vanish and the weights stay near ±2e30; Adam's steps are
    /// about `lr` in size, so overflowing Float needs a learning rate near its largest value.)
    @Test func hugeLearningRateMakesWeightsNonFinite() {
        let c = smallConfiguration(margin: 2)
        let examples = Self.examples(c, count: 4, seed: 21)
        func train(learningRate: Float) -> AMCWeights {
            var trainer = ModelTrainer(
                model: AMCModel(weights: AMCWeights(configuration: c, seed: 22)),
                optimizer: AdamOptimizer(learningRate: learningRate),
                scope: .all
            )
            #expect(trainer.model.weights.isFinite)
            for _ in 0..<3 { _ = trainer.step(examples[...]) }
            return trainer.model.weights
        }
        func nonFinite(_ weights: AMCWeights) -> Int {
            AMCTensor.allCases.reduce(0) { $0 + weights[$1].filter { !$0.isFinite }.count }
        }
        let large = train(learningRate: 1e30)
        #expect(large.isFinite && nonFinite(large) == 0 && large.bq.allSatisfy { abs($0) > 1e29 })
        let huge = train(learningRate: .greatestFiniteMagnitude)
        #expect(nonFinite(huge) > 0, "the huge learning rate did not overflow any weight")
        #expect(!huge.isFinite)
    }

    @Test func isFiniteChecksEveryTensor() {
        let c = smallConfiguration()
        let weights = AMCWeights(configuration: c, seed: 1)
        #expect(weights.isFinite)
        for tensor in AMCTensor.allCases {
            for bad in [Float.nan, .infinity, -.infinity] {
                var broken = weights
                broken.withTensor(tensor) { $0[$0.count - 1] = bad }
                #expect(!broken.isFinite, "\(tensor.rawValue) = \(bad)")
            }
        }
    }

    /// `W_q`/`W_k` use lazy Adam: a column no example of the minibatch touched keeps its value (and moments),
    /// while every dense tensor keeps moving on its momentum.
    @Test func embeddingColumnsOutsideTheMinibatchAreNotUpdated() {
        let c = smallConfiguration(margin: 2)
        var rng = SplitMix64(seed: 3)
        func example(_ query: String, _ keywords: [String]) -> TrainingExample {
            TrainingExample(
                query: LetterTrigramHasher.encode(query, buckets: c.hashBuckets),
                positive: makeImage(&rng, configuration: c, regionCount: 4, keywords: keywords),
                negatives: [makeImage(&rng, configuration: c, regionCount: 4, keywords: keywords)]
            )
        }
        let a = example("snooki", ["snooki"])
        let b = example("car", ["car"])
        let onlyA = Set(a.query.indices).subtracting(b.query.indices).map(Int.init)
        #expect(!onlyA.isEmpty)
        var trainer = ModelTrainer(model: AMCModel(weights: AMCWeights(configuration: c, seed: 4)), scope: .all)
        _ = trainer.step([a][...])
        let afterA = trainer.model.weights
        _ = trainer.step([b][...])
        let afterB = trainer.model.weights
        let (d, buckets) = (c.embeddingDimension, c.hashBuckets)
        for column in onlyA {
            for row in 0..<d {
                #expect(afterB.wq[row * buckets + column] == afterA.wq[row * buckets + column])
            }
        }
        // A dense tensor (e.g. c_v) moves on its momentum either way.
        #expect(afterB.cv != afterA.cv)
        // Dense Adam would have moved those columns too.
        var dense = afterA
        var adam = AdamOptimizer(configuration: c)
        let gradientA = AMCModel(weights: AMCWeights(configuration: c, seed: 4)).lossAndGradients(
            query: a.query,
            positive: a.positive,
            negatives: a.negatives
        )
        var start = AMCWeights(configuration: c, seed: 4)
        adam.update(&start, gradients: gradientA.gradients)
        #expect(start == afterA)
        let gradientB = AMCModel(weights: afterA).lossAndGradients(
            query: b.query,
            positive: b.positive,
            negatives: b.negatives
        )
        adam.update(&dense, gradients: gradientB.gradients)
        #expect(onlyA.contains { dense.wq[$0] != afterA.wq[$0] })
    }

    @Test func emptyBatchDoesNothing() {
        let c = smallConfiguration()
        let model = AMCModel(weights: AMCWeights(configuration: c, seed: 2))
        var trainer = ModelTrainer(model: model, scope: .all)
        #expect(trainer.step([TrainingExample]()[...]) == 0)
        #expect(trainer.optimizer.step == 0 && trainer.model.weights == model.weights)
    }

    /// The single-modality baselines train with the same code; the branch they skip, and the MTN, get no update.
    @Test(arguments: [ModalityMode.imageOnly, .keywordOnly])
    func baselinesNeverTouchTheUnusedBranchOrTheMTN(mode: ModalityMode) {
        let c = smallConfiguration(margin: 2)
        let start = AMCWeights(configuration: c, seed: 9)
        let examples = Self.examples(c, count: 8, seed: 10)
        var trainer = ModelTrainer(model: AMCModel(weights: start, mode: mode), scope: .all)
        for _ in 0..<3 { _ = trainer.step(examples[...]) }
        #expect(trainer.model.mode == mode)
        for tensor in AMCTensor.allCases {
            let same = trainer.model.weights[tensor] == start[tensor]
            #expect(same == !GradientCheckTests.isUsed(tensor, by: mode), "\(mode) \(tensor.rawValue)")
        }
    }
}
