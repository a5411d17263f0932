import Dispatch

/// One training pair: a query, its clicked image and the sampled negatives.
public struct TrainingExample: Sendable {
    /// The query trigram bag (the whole query as one bag, as AMC and late fusion read it).
    public var query: SparseVector
    /// One trigram bag per query word, in word order (word-level architectures attend over these).
    public var queryWords: [SparseVector]
    /// The normalised query text (empty when the example was built from a bag alone).
    public var queryText: String
    /// The clicked image.
    public var positive: ImageFeatures
    /// The sampled negatives (T ≥ 0).
    public var negatives: [ImageFeatures]
    /// The positive's and the negatives' encodings, when the caller holds them: made by the model being trained, or
    /// one it shares image encodings with (``ScoringModel/sharesImageEncodings(with:)``). A trainer whose scope
    /// leaves every image-side tensor unchanged (the online part of an architecture whose
    /// ``ScoringModel/onlinePartKeepsImageEncodings``) may score these instead of encoding the features again, with
    /// the same bits; one that trains the encoders reads the features. nil: the features. Default: nil.
    public var encoded: EncodedImages?

    /// The encodings of an example's images (``TrainingExample/encoded``).
    public struct EncodedImages: Sendable {
        /// The clicked image's encoding.
        public var positive: EncodedImage
        /// One encoding per negative, in order.
        public var negatives: [EncodedImage]

        /// Pairs an example's encodings.
        /// - Parameters:
        ///   - positive: The clicked image's encoding.
        ///   - negatives: One encoding per negative, in the example's order.
        public init(positive: EncodedImage, negatives: [EncodedImage]) {
            self.positive = positive
            self.negatives = negatives
        }
    }

    /// Creates a training example from a query bag alone: the query counts as one word.
    /// - Parameters:
    ///   - query: The query trigram bag.
    ///   - positive: The clicked image.
    ///   - negatives: The sampled negatives.
    public init(query: SparseVector, positive: ImageFeatures, negatives: [ImageFeatures]) {
        self.query = query
        self.queryWords = [query]
        self.queryText = ""
        self.positive = positive
        self.negatives = negatives
    }

    /// Creates a training example from an encoded query.
    /// - Parameters:
    ///   - query: The query's text and bags (``QueryInput``).
    ///   - positive: The clicked image.
    ///   - negatives: The sampled negatives.
    public init(query: QueryInput, positive: ImageFeatures, negatives: [ImageFeatures]) {
        self.query = query.bag
        self.queryWords = query.wordBags
        self.queryText = query.text
        self.positive = positive
        self.negatives = negatives
    }
}

/// A normalised query as the models read it: its text, its trigram bag, and one bag per word.
public struct QueryInput: Sendable, Hashable {
    /// The normalised query text.
    public var text: String
    /// The whole query's trigram bag.
    public var bag: SparseVector
    /// One trigram bag per whitespace-separated word, in word order (empty for an empty query).
    public var wordBags: [SparseVector]

    /// Hashes a normalised query.
    /// - Parameters:
    ///   - text: The normalised query.
    ///   - buckets: The trigram bucket count `H`.
    public init(_ text: String, buckets: Int) {
        self.text = text
        self.bag = LetterTrigramHasher.encode(text, buckets: buckets)
        self.wordBags = text.split(whereSeparator: { $0.isWhitespace }).map {
            LetterTrigramHasher.encode(String($0), buckets: buckets)
        }
    }
}

/// Minibatch Adam training of an ``AMCModel`` with reusable buffers.
///
/// Each ``step(_:)`` runs the forward and backward pass of every example, averages the gradients and applies one
/// Adam step. With `.modalityAttentionOnly` the backward pass stops at the MTN (nothing else is computed or
/// changed). With `.all`, `W_q` and `W_k` get sparse (lazy) Adam: only the columns of trigram buckets that
/// received a gradient in the minibatch are updated (see `Docs/model.md`).
///
/// Deterministic: the first ⌈B/2⌉ examples and the rest are accumulated separately (on two threads when
/// possible), each example's gradient is added to its half in order, and the mean is `(first + second) / B` —
/// the same bits whether the halves ran in parallel or not.
public struct ModelTrainer: Sendable {
    /// The model being trained (its packed copy is kept in sync after every step).
    public private(set) var model: AMCModel
    /// The optimiser and its state.
    public var optimizer: AdamOptimizer
    /// Which tensors the trainer computes gradients for and updates.
    public let scope: AdamOptimizer.Scope
    /// Weight of the auxiliary single-modality losses (bootstrap of an attention model only): each example's
    /// gradient also gets `weight × ∇L` of the image-only and of the keyword-only pass (β fixed to one modality,
    /// same shared parameters). It keeps both branches good rankers on their own, so the MTN can later re-weight
    /// them online. 0 (the default) trains the AMC loss alone. ``step(_:)`` still returns the AMC loss.
    public var auxiliaryModalityWeight: Float = 0
    /// Run the two halves of a minibatch on two threads (the result is bit-identical either way).
    var usesTwoThreads = true
    private var first: EngineScratch
    private var second: EngineScratch

    /// Creates a trainer.
    /// - Parameters:
    ///   - model: The starting model (its ``AMCModel/mode`` is trained as is).
    ///   - optimizer: Adam and its hyperparameters (moments are allocated on the first step if needed).
    ///   - scope: `.all` for bootstrap training, `.modalityAttentionOnly` for online MTN fine-tuning.
    public init(model: AMCModel, optimizer: AdamOptimizer = AdamOptimizer(), scope: AdamOptimizer.Scope) {
        self.model = model
        self.optimizer = optimizer
        self.scope = scope
        let c = model.configuration
        let count = GradientLayout(c).count(scope)
        first = EngineScratch(c, gradientCount: count, slots: 1, regions: 0, keywords: 0)
        second = EngineScratch(c, gradientCount: count, slots: 1, regions: 0, keywords: 0)
    }

    /// One optimiser step on the gradient of the summed loss over the minibatch divided by the batch size; returns
    /// the summed loss (before the step). An empty batch does nothing and returns 0.
    /// - Parameter batch: The minibatch.
    /// - Returns: `Σ_examples L` at the weights before the step.
    public mutating func step(_ batch: ArraySlice<TrainingExample>) -> Float {
        guard !batch.isEmpty else { return 0 }
        let loss = accumulateMean(batch)
        let layout = first.gradientLayout
        let scope = scope
        let buckets = model.configuration.hashBuckets
        let (queryCount, keywordCount) = (first.partialQueryColumns, first.partialKeywordColumns)
        let partialOffset = first.partialGradient
        first.floats.withUnsafeBufferPointer { floats in
            first.ints.withUnsafeBufferPointer { ints in
                let columns = ints.baseAddress.map { $0 + 4 * buckets }
                optimizer.apply(
                    to: &model,
                    gradient: floats.baseAddress! + partialOffset,
                    layout: layout,
                    queryColumns: UnsafeBufferPointer(start: columns.map { $0 + 2 * buckets }, count: queryCount),
                    keywordColumns: UnsafeBufferPointer(start: columns.map { $0 + 3 * buckets }, count: keywordCount),
                    scope: scope
                )
            }
        }
        Self.clearPartial(&first)
        return loss
    }

    /// The mean gradient of a minibatch and its summed loss, without stepping (tests compare it with
    /// ``AMCModel/lossAndGradients(query:positive:negatives:)``). Tensors outside the scope are zero.
    mutating func meanGradient(_ batch: ArraySlice<TrainingExample>) -> (loss: Float, gradient: AMCWeights) {
        var gradient = AMCWeights(zerosFor: model.configuration)
        guard !batch.isEmpty else { return (0, gradient) }
        let loss = accumulateMean(batch)
        let layout = first.gradientLayout
        let scope = scope
        let buckets = model.configuration.hashBuckets
        let (queryCount, keywordCount) = (first.partialQueryColumns, first.partialKeywordColumns)
        let partialOffset = first.partialGradient
        first.floats.withUnsafeMutableBufferPointer { floats in
            first.ints.withUnsafeMutableBufferPointer { ints in
                if scope == .all {
                    var sink = GradientSink(
                        g: floats.baseAddress! + partialOffset,
                        marks: ints.baseAddress! + 4 * buckets,
                        buckets: buckets
                    )
                    sink.queryColumns = queryCount
                    sink.keywordColumns = keywordCount
                    gradient.copy(from: sink, layout: layout)
                } else {
                    for tensor in AMCTensor.allCases where tensor.isModalityAttention {
                        let source = floats.baseAddress! + partialOffset + layout.offset(tensor)
                        gradient.withTensor(tensor) { values in
                            for i in values.indices { values[i] = source[i] }
                        }
                    }
                }
            }
        }
        Self.clearPartial(&first)
        return (loss, gradient)
    }

    // MARK: - Accumulation

    private struct Half {
        var loss: Float = 0
        var queryColumns = 0
        var keywordColumns = 0
    }

    /// Runs both halves and leaves the mean gradient (with the union of touched columns) in `first`'s partial
    /// buffer; `second` is left zeroed.
    private mutating func accumulateMean(_ batch: ArraySlice<TrainingExample>) -> Float {
        let c = model.configuration
        var slots = 1
        var regions = 0
        var keywords = 0
        for example in batch {
            slots = max(slots, 1 + example.negatives.count)
            for image in CollectionOfOne(example.positive) + example.negatives {
                regions = max(regions, image.regionCount)
                keywords = max(keywords, image.keywords.count)
            }
        }
        first.reserve(c, slots: slots, regions: regions, keywords: keywords)
        second.reserve(c, slots: slots, regions: regions, keywords: keywords)

        let split = (batch.count + 1) / 2
        let halves = (batch.prefix(split), batch.dropFirst(split))
        let full = scope == .all
        let parallel = usesTwoThreads && !halves.1.isEmpty
        let (mode, margin, auxiliaryWeight) = (model.mode, c.margin, auxiliaryModalityWeight)
        let packed = model.packed
        let (d, buckets) = (c.embeddingDimension, c.hashBuckets)
        let layout = first.gradientLayout
        let denseCount = layout.denseCount(scope)
        let gradientCount = first.gradientCount
        var results = (Half(), Half())
        first.withEngine(packed, mode: mode, margin: margin) { engine0, sink0 in
            second.withEngine(packed, mode: mode, margin: margin) { engine1, sink1 in
                let work = UncheckedSendable(
                    value: (engine0, sink0!, engine1, sink1!)
                )
                func run(_ index: Int) -> Half {
                    let (engine, sink) = index == 0 ? (work.value.0, work.value.1) : (work.value.2, work.value.3)
                    return Self.runHalf(
                        index == 0 ? halves.0 : halves.1,
                        engine: engine,
                        example: sink,
                        partial: GradientSink(
                            g: sink.g + gradientCount,
                            marks: sink.marks + 4 * buckets,
                            buckets: buckets
                        ),
                        full: full,
                        denseCount: denseCount,
                        d: d,
                        auxiliaryWeight: auxiliaryWeight
                    )
                }
                if parallel {
                    withUnsafeTemporaryAllocation(of: Half.self, capacity: 2) { buffer in
                        let out = UncheckedSendable(value: buffer.baseAddress!)
                        let runner = UncheckedSendable(value: run)
                        DispatchQueue.concurrentPerform(iterations: 2) { index in
                            (out.value + index).initialize(to: runner.value(index))
                        }
                        results = (buffer[0], buffer[1])
                    }
                } else {
                    results = (run(0), halves.1.isEmpty ? Half() : run(1))
                }

                // mean = (first + second) / B over the dense prefix and the union of touched columns.
                let count = Float(batch.count)
                let p0 = sink0!.g + gradientCount
                let p1 = sink1!.g + gradientCount
                Kernels.mean(p0, p1, count, denseCount)
                guard full else { return }
                var union = GradientSink(g: p0, marks: sink0!.marks + 4 * buckets, buckets: buckets)
                union.queryColumns = results.0.queryColumns
                union.keywordColumns = results.0.keywordColumns
                let other = GradientSink(g: p1, marks: sink1!.marks + 4 * buckets, buckets: buckets)
                for i in 0..<results.1.queryColumns {
                    let column = Int(other.queryColumnList[i])
                    other.marks[column] = 0
                    union.touchQuery(column)
                }
                for i in 0..<results.1.keywordColumns {
                    let column = Int(other.keywordColumnList[i])
                    other.marks[buckets + column] = 0
                    union.touchKeyword(column)
                }
                for i in 0..<union.queryColumns {
                    let offset = layout.wqT + Int(union.queryColumnList[i]) * d
                    Kernels.mean(p0 + offset, p1 + offset, count, d)
                }
                for i in 0..<union.keywordColumns {
                    let offset = layout.wkT + Int(union.keywordColumnList[i]) * d
                    Kernels.mean(p0 + offset, p1 + offset, count, d)
                }
                results.0.queryColumns = union.queryColumns
                results.0.keywordColumns = union.keywordColumns
            }
        }
        first.partialQueryColumns = results.0.queryColumns
        first.partialKeywordColumns = results.0.keywordColumns
        second.partialQueryColumns = 0
        second.partialKeywordColumns = 0
        return results.0.loss + results.1.loss
    }

    /// Forward and backward of each example in order; each example's gradient (computed into the zeroed
    /// `example` buffer) is added to `partial` and the example buffer is zeroed again.
    private static func runHalf(
        _ examples: ArraySlice<TrainingExample>,
        engine: Engine,
        example: GradientSink,
        partial: GradientSink,
        full: Bool,
        denseCount: Int,
        d: Int,
        auxiliaryWeight: Float
    ) -> Half {
        var partial = partial
        let layout = engine.gl
        let buckets = example.buckets
        var loss: Float = 0
        // The AMC pass, then (when auxiliary) each single-modality pass, its gradient scaled by the weight.
        var passes = [(engine: engine, weight: Float(1))]
        if full, auxiliaryWeight > 0, engine.mode == .attention {
            passes.append((engine.with(mode: .imageOnly), auxiliaryWeight))
            passes.append((engine.with(mode: .keywordOnly), auxiliaryWeight))
        }
        for item in examples {
            for (index, pass) in passes.enumerated() {
                var sink: GradientSink? = example
                let passLoss = pass.engine.example(
                    query: item.query,
                    positive: item.positive,
                    negatives: item.negatives,
                    encoded: item.encoded,
                    full: full,
                    sink: &sink
                )
                if index == 0 { loss += passLoss }
                let e = example.g
                let weight = pass.weight
                func fold(_ offset: Int, _ count: Int) {
                    if weight == 1 {
                        Kernels.add(partial.g + offset, e + offset, count)
                    } else {
                        Kernels.axpy(partial.g + offset, weight, e + offset, count)
                    }
                    Kernels.zero(e + offset, count)
                }
                fold(0, denseCount)
                guard full, let sink else { continue }
                for i in 0..<sink.queryColumns {
                    let column = Int(sink.queryColumnList[i])
                    fold(layout.wqT + column * d, d)
                    sink.marks[column] = 0
                    partial.touchQuery(column)
                }
                for i in 0..<sink.keywordColumns {
                    let column = Int(sink.keywordColumnList[i])
                    fold(layout.wkT + column * d, d)
                    sink.marks[buckets + column] = 0
                    partial.touchKeyword(column)
                }
            }
        }
        return Half(loss: loss, queryColumns: partial.queryColumns, keywordColumns: partial.keywordColumns)
    }

    /// Zeroes a scratch's partial gradient (dense prefix and touched columns) and its marks.
    private static func clearPartial(_ scratch: inout EngineScratch) {
        let layout = scratch.gradientLayout
        let gradientCount = scratch.gradientCount
        let buckets = scratch.buckets
        let d = (layout.wkT - layout.wqT) / max(buckets, 1)
        let (queryCount, keywordCount) = (scratch.partialQueryColumns, scratch.partialKeywordColumns)
        scratch.floats.withUnsafeMutableBufferPointer { floats in
            scratch.ints.withUnsafeMutableBufferPointer { ints in
                let p = floats.baseAddress! + gradientCount
                Kernels.zero(p, min(layout.smallCount, gradientCount))
                guard gradientCount == layout.count, let ints = ints.baseAddress else { return }
                let sink = GradientSink(g: p, marks: ints + 4 * buckets, buckets: buckets)
                for i in 0..<queryCount {
                    let column = Int(sink.queryColumnList[i])
                    Kernels.zero(p + layout.wqT + column * d, d)
                    sink.marks[column] = 0
                }
                for i in 0..<keywordCount {
                    let column = Int(sink.keywordColumnList[i])
                    Kernels.zero(p + layout.wkT + column * d, d)
                    sink.marks[buckets + column] = 0
                }
            }
        }
        scratch.partialQueryColumns = 0
        scratch.partialKeywordColumns = 0
    }
}

/// Carries values the compiler cannot prove `Sendable` (raw pointers into buffers each thread owns exclusively)
/// into `DispatchQueue.concurrentPerform`.
struct UncheckedSendable<Value>: @unchecked Sendable {
    var value: Value
}
