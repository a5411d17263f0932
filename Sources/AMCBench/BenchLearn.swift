import CommandSupport
import Foundation
import Model

/// `amc bench learn`: `ModelTrainer` throughput (MTN fine-tuning and bootstrap) against a straightforward NumPy
/// implementation of the same forward and backward pass, on the same synthetic data from the same weights, with a
/// correctness cross-check of the first steps.
public struct BenchLearn: Sendable {
    /// Training pairs (query, clicked image, negatives) in the synthetic set.
    public var examples = 2000

    /// Distinct images the pairs draw from.
    public var images = 1000

    /// Region cells per image (R).
    public var regions = 16

    /// Mean keywords per image (K is uniform in K-4...K+4).
    public var keywords = 20

    /// Negatives per pair (T).
    public var negatives = 4

    /// Minibatch size.
    public var batch = 16

    /// Seconds of timed training per implementation and scope (whole epochs, at least one).
    public var seconds = 5.0

    /// Minibatches from the initial weights whose losses (and resulting weights) are cross-checked.
    public var checkSteps = 10

    /// Seed of the synthetic data and the initial weights.
    public var seed: UInt64 = 42

    /// The NumPy reference trainer (python3-numpy).
    public var reference = "Benchmarks/reference_learn.py"

    /// The Python interpreter that runs the reference (looked up in PATH unless it contains a '/').
    public var python = "python3"

    /// Skip the reference (no ratio, no cross-check).
    public var skipReference = false

    /// Keep the folder with the data and weights files.
    public var keep = false

    /// The architectures measured beside AMC (AMC's own run, with its NumPy reference, always runs). Default: every
    /// architecture of ``ModelArchitectures/all``.
    public var architectures = ModelArchitectures.ids

    /// The defaults.
    public init() {}

    /// What is wrong with the parameters, or nil when they are usable.
    public var invalidParameters: String? {
        guard examples >= 1, images >= 2, regions >= 0, keywords >= 0, negatives >= 0, batch >= 1, seconds > 0,
            checkSteps >= 1, checkSteps * batch <= examples
        else {
            return
                "examples ≥ 1, images ≥ 2, regions/keywords/negatives ≥ 0, batch ≥ 1, seconds > 0, check-steps ≥ 1, check-steps × batch ≤ examples"
        }
        guard skipReference || (regions >= 1 && keywords >= 5) else {
            return "the reference needs every image to have regions and keywords: regions ≥ 1, keywords ≥ 5"
        }
        if let unknown = architectures.first(where: { !ModelArchitectures.ids.contains($0) }) {
            return "unknown architecture \(unknown); known: \(ModelArchitectures.ids.joined(separator: ", "))"
        }
        return nil
    }

    /// Runs the benchmark and prints its figures.
    public func run() async throws {
        if !skipReference {
            guard FileManager.default.fileExists(atPath: reference) else {
                throw CommandError(
                    "reference trainer \(reference) not found (run from the repository root, pass --reference, or --skip-reference)"
                )
            }
            let python = python
            guard try await onBlockingThread({ NumPyReference.isAvailable(python: python) }) else {
                throw CommandError(
                    "NumPy is missing for \(python): install python3-numpy (bash Deploy/local/install-deps.sh)"
                )
            }
        }
        let configuration = ModelConfiguration()
        let data = SyntheticTrainingSet(
            configuration: configuration,
            examples: examples,
            images: images,
            regions: regions,
            keywords: keywords,
            negatives: negatives,
            seed: seed
        )
        let initial = AMCWeights(configuration: configuration, seed: seed)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("amc-bench-learn-\(getpid())")
        defer { if !keep { try? FileManager.default.removeItem(at: directory) } }
        let optimizer = AdamOptimizer()
        try data.write(to: directory, weights: initial, batch: batch, optimizer: optimizer)
        print(
            """
            synthetic set: \(examples) pairs over \(images) images (R=\(regions) regions of D=\(configuration.regionDimension), \
            K=\(max(0, keywords - 4))–\(keywords + 4) keywords, T=\(negatives) negatives, \
            \(data.meanQueryWords.formatted(.number.precision(.fractionLength(1)))) query words), minibatch \(batch)
            data and initial weights: \(directory.path)\(keep ? "" : " (removed at exit; --keep keeps it)")
            """
        )

        var rows: [Row] = []
        for scope in [AdamOptimizer.Scope.modalityAttentionOnly, .all] {
            let name = scope == .all ? "bootstrap (all tensors)" : "MTN fine-tune"
            let (batch, seconds, checkSteps) = (batch, seconds, checkSteps)
            let swift = try await onBlockingThread {
                Self.measure(
                    data.examples,
                    initial: initial,
                    optimizer: optimizer,
                    scope: scope,
                    batch: batch,
                    seconds: seconds,
                    checkSteps: checkSteps
                )
            }
            var row = Row(name: name, scope: scope, swift: swift)
            if !skipReference {
                let (reference, python) = (reference, python)
                row.reference = try await onBlockingThread {
                    try Self.runReference(
                        reference,
                        python: python,
                        directory: directory,
                        scope: scope,
                        seconds: seconds,
                        checkSteps: checkSteps
                    )
                }
                try row.crossCheck(initial: initial)
            }
            rows.append(row)
        }
        // Every other architecture, on the same examples, through its own trainer.
        let architectureRows = try await measureArchitectures(data, learningRate: optimizer.learningRate)

        print("")
        if let versions = rows.first?.reference?.versions { print("reference: \(versions)") }
        print("                          amc (ModelTrainer, 2 threads)   reference (NumPy)   ratio")
        for row in rows {
            print(
                row.name.padding(toLength: 26, withPad: " ", startingAt: 0)
                    + Self.rate(row.swift.pairsPerSecond).leftPadded(21) + " pairs/s"
                    + (row.reference.map { Self.rate($0.pairsPerSecond).leftPadded(12) + " pairs/s" } ?? "")
                    + (row.ratio.map { String(format: "%8.1f×", $0) } ?? "")
            )
        }
        for row in rows {
            print(row.checkLine(steps: checkSteps, batch: batch))
        }
        let finetune = rows[0]
        let bootstrap = rows[1]
        let amcRow = ArchitectureRow(
            architecture: AMCModel.architecture,
            bootstrapPairsPerSecond: bootstrap.swift.pairsPerSecond,
            finetunePairsPerSecond: finetune.swift.pairsPerSecond,
            onlineTensors: AMCModel.onlineTensorNames,
            note: skipReference ? "" : "ModelTrainer, beside its NumPy reference above"
        )
        Self.printArchitectures([amcRow] + architectureRows)
        print(Self.summaryLine("BOOTSTRAP bootstrap", bootstrap))
        print(Self.summaryLine("RESULT finetune", finetune))
    }

    /// A machine-readable summary line: `prefix_pairs_per_s=… reference_pairs_per_s=… ratio=…` (0 for a skipped
    /// reference).
    static func summaryLine(_ prefix: String, _ row: Row) -> String {
        String(
            format: "%@_pairs_per_s=%.0f reference_pairs_per_s=%.0f ratio=%.2f",
            prefix,
            row.swift.pairsPerSecond,
            row.reference?.pairsPerSecond ?? 0,
            row.ratio ?? 0
        )
    }

    // MARK: - Runs

    struct Measurement: Sendable {
        var pairsPerSecond: Double
        /// Loss per pair of each of the first check steps.
        var checkLosses: [Float]
        /// The weights after the check steps.
        var checked: AMCWeights
        /// The reference's NumPy and Python versions.
        var versions: String? = nil
    }

    struct Row {
        var name: String
        var scope: AdamOptimizer.Scope
        var swift: Measurement
        var reference: Measurement?
        var weightDifference: Float = 0

        var ratio: Double? { reference.map { swift.pairsPerSecond / $0.pairsPerSecond } }

        /// The losses of the first steps agree, and so do the weight changes they made.
        mutating func crossCheck(initial: AMCWeights) throws {
            guard let reference else { return }
            let swiftMean = swift.checkLosses.reduce(0, +) / Float(swift.checkLosses.count)
            let referenceMean = reference.checkLosses.reduce(0, +) / Float(reference.checkLosses.count)
            guard reference.checkLosses.count == swift.checkLosses.count,
                abs(swiftMean - referenceMean) <= 1e-3 * max(abs(referenceMean), 1e-3)
            else {
                throw CommandError(
                    "\(name): the Swift trainer and the NumPy reference disagree on the loss of the first \(swift.checkLosses.count) steps: \(swiftMean) vs \(referenceMean) per pair"
                )
            }
            // ‖Δ_swift − Δ_reference‖ / ‖Δ_reference‖ over the tensors in scope, Δ = trained − initial.
            var difference: Double = 0
            var norm: Double = 0
            for tensor in AMCTensor.allCases where scope == .all || tensor.isModalityAttention {
                let start = initial[tensor]
                let ours = swift.checked[tensor]
                let theirs = reference.checked[tensor]
                for i in start.indices {
                    let referenceDelta = Double(theirs[i]) - Double(start[i])
                    difference += (Double(ours[i]) - Double(theirs[i])) * (Double(ours[i]) - Double(theirs[i]))
                    norm += referenceDelta * referenceDelta
                }
            }
            weightDifference = Float((difference / max(norm, 1e-30)).squareRoot())
            guard weightDifference <= 0.02 else {
                throw CommandError(
                    "\(name): the weights after \(swift.checkLosses.count) steps differ from the NumPy reference's by \(weightDifference) of the change they made"
                )
            }
        }

        func checkLine(steps: Int, batch: Int) -> String {
            let swiftMean = swift.checkLosses.reduce(0, +) / Float(swift.checkLosses.count)
            guard let reference else {
                return String(format: "%@: mean loss per pair over the first %d steps %.6f", name, steps, swiftMean)
            }
            let referenceMean = reference.checkLosses.reduce(0, +) / Float(reference.checkLosses.count)
            return String(
                format:
                    "check %@: mean loss per pair over the first %d steps (%d pairs): Swift %.6f, NumPy %.6f (rel. diff %.1e); weight change differs by %.1e",
                name,
                steps,
                steps * batch,
                swiftMean,
                referenceMean,
                abs(swiftMean - referenceMean) / max(abs(referenceMean), 1e-12),
                weightDifference
            )
        }
    }

    /// The check steps from the initial weights, then whole epochs (each from the initial weights, trainer
    /// construction untimed) until `seconds` of training have been timed.
    static func measure(
        _ examples: [TrainingExample],
        initial: AMCWeights,
        optimizer: AdamOptimizer,
        scope: AdamOptimizer.Scope,
        batch: Int,
        seconds: Double,
        checkSteps: Int
    ) -> Measurement {
        var trainer = ModelTrainer(model: AMCModel(weights: initial), optimizer: optimizer, scope: scope)
        var losses: [Float] = []
        for step in 0..<checkSteps {
            let slice = examples[(step * batch)..<min((step + 1) * batch, examples.count)]
            losses.append(trainer.step(slice) / Float(slice.count))
        }
        let checked = trainer.model.weights

        var pairs = 0
        var elapsed = Duration.zero
        repeat {
            var trainer = ModelTrainer(model: AMCModel(weights: initial), optimizer: optimizer, scope: scope)
            let started = ContinuousClock.now
            for start in stride(from: 0, to: examples.count, by: batch) {
                _ = trainer.step(examples[start..<min(start + batch, examples.count)])
            }
            elapsed += ContinuousClock.now - started
            pairs += examples.count
        } while elapsed.seconds < seconds
        return Measurement(pairsPerSecond: Double(pairs) / elapsed.seconds, checkLosses: losses, checked: checked)
    }

    /// Runs the NumPy reference on the written folder and reads its check losses, trained tensors and rate.
    static func runReference(
        _ script: String,
        python: String,
        directory: URL,
        scope: AdamOptimizer.Scope,
        seconds: Double,
        checkSteps: Int
    ) throws -> Measurement {
        let name = scope == .all ? "all" : "mtn"
        let lines = try NumPyReference.run(
            script,
            python: python,
            arguments: [
                directory.path, "--scope", name, "--seconds", "\(seconds)", "--check-steps", "\(checkSteps)",
            ],
            context: "scope \(name)"
        )
        var losses: [Float] = []
        var rate: Double?
        var versions: String? = nil
        for line in lines {
            let fields = line.split(separator: " ")
            if fields.first == "VERSIONS" {
                versions = fields.dropFirst().joined(separator: " ")
            } else if fields.first == "CHECK" {
                losses = fields.dropFirst().compactMap { Float(String($0)) }
            } else if fields.first == "REFERENCE" {
                for field in fields where field.hasPrefix("pairs_per_s=") {
                    rate = Double(field.dropFirst("pairs_per_s=".count))
                }
            }
        }
        guard let rate, losses.count == checkSteps else {
            throw CommandError("the NumPy reference printed no CHECK/REFERENCE lines (scope \(name))")
        }
        var checked = AMCWeights(zerosFor: ModelConfiguration())
        let folder = directory.appendingPathComponent("check-\(name)")
        for tensor in AMCTensor.allCases where scope == .all || tensor.isModalityAttention {
            let values = try NumPyReference.readFloats(folder.appendingPathComponent("\(tensor.rawValue).f32"))
            guard values.count == checked[tensor].count else {
                throw CommandError("the NumPy reference wrote \(tensor.rawValue) with the wrong size")
            }
            checked.withTensor(tensor) { $0 = values }
        }
        return Measurement(pairsPerSecond: rate, checkLosses: losses, checked: checked, versions: versions)
    }

    static func rate(_ value: Double) -> String {
        value.formatted(.number.precision(.fractionLength(0)))
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// A deterministic synthetic training set: topics with their own words and region prototype; images of a topic
/// show noisy copies of its prototype and carry mostly its words; a pair's query uses its topic's words, its
/// clicked image is of the same topic, its negatives of other topics.
struct SyntheticTrainingSet: Sendable {
    let examples: [TrainingExample]
    private let imageFeatures: [ImageFeatures]
    private let exampleImages: [[Int32]]
    let meanQueryWords: Double
    let configuration: ModelConfiguration

    init(
        configuration: ModelConfiguration,
        examples count: Int,
        images imageCount: Int,
        regions: Int,
        keywords: Int,
        negatives: Int,
        seed: UInt64
    ) {
        self.configuration = configuration
        var rng = SplitMix64(seed: seed ^ 0x5eed_da7a)
        let dim = configuration.regionDimension
        let buckets = configuration.hashBuckets
        let syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "shi", "gor", "bel", "an", "tre"]
        func word() -> String {
            (0..<(2 + Int(rng.next() % 2))).map { _ in syllables[Int(rng.next() % UInt64(syllables.count))] }.joined()
        }
        let topicCount = max(2, min(50, imageCount / 10))
        let topicWords = (0..<topicCount).map { _ in (0..<30).map { _ in word() } }
        let commonWords = (0..<200).map { _ in word() }
        let prototypes = (0..<topicCount).map { _ in (0..<dim).map { _ in rng.nextSymmetric(1) } }

        var imageTopics: [Int] = []
        var imageFeatures: [ImageFeatures] = []
        for i in 0..<imageCount {
            let topic = i % topicCount
            var cells: [Float] = []
            cells.reserveCapacity(regions * dim)
            for _ in 0..<regions {
                for j in 0..<dim { cells.append(prototypes[topic][j] + rng.nextSymmetric(0.6)) }
            }
            let k = max(0, keywords - 4 + Int(rng.next() % 9))
            let bags = (0..<k).map { _ in
                let words = (0..<(1 + Int(rng.next() % 2))).map { _ in
                    rng.next() % 10 < 8
                        ? topicWords[topic][Int(rng.next() % 30)] : commonWords[Int(rng.next() % 200)]
                }
                return LetterTrigramHasher.encode(words.joined(separator: " "), buckets: buckets)
            }
            imageTopics.append(topic)
            imageFeatures.append(ImageFeatures(regions: cells, regionCount: regions, keywords: bags))
        }
        var byTopic = [[Int]](repeating: [], count: topicCount)
        for (i, topic) in imageTopics.enumerated() { byTopic[topic].append(i) }

        var examples: [TrainingExample] = []
        var exampleImages: [[Int32]] = []
        var words = 0
        for _ in 0..<count {
            let topic = Int(rng.next() % UInt64(topicCount))
            let queryWords = 2 + Int(rng.next() % 3)
            words += queryWords
            let query = (0..<queryWords).map { _ in topicWords[topic][Int(rng.next() % 30)] }.joined(separator: " ")
            let positive = byTopic[topic][Int(rng.next() % UInt64(byTopic[topic].count))]
            var chosen = [positive]
            while chosen.count < 1 + negatives {
                let candidate = Int(rng.next() % UInt64(imageCount))
                if imageTopics[candidate] != topic { chosen.append(candidate) }
            }
            examples.append(
                TrainingExample(
                    query: QueryInput(query, buckets: buckets),
                    positive: imageFeatures[positive],
                    negatives: chosen.dropFirst().map { imageFeatures[$0] }
                )
            )
            exampleImages.append(chosen.map { Int32($0) })
        }
        self.examples = examples
        self.imageFeatures = imageFeatures
        self.exampleImages = exampleImages
        self.meanQueryWords = Double(words) / Double(max(count, 1))
    }

    /// Writes the set and the initial weights as raw little-endian files (layout in
    /// `Benchmarks/reference_learn.py`).
    func write(to directory: URL, weights: AMCWeights, batch: Int, optimizer: AdamOptimizer) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: directory.appendingPathComponent("weights"), withIntermediateDirectories: true)
        func put(_ name: String, _ values: [Int32]) throws {
            try NumPyReference.write(values, to: directory.appendingPathComponent(name))
        }
        func put(_ name: String, _ values: [Float]) throws {
            try NumPyReference.write(values, to: directory.appendingPathComponent(name))
        }
        let c = configuration
        let regions = imageFeatures.first?.regionCount ?? 0
        precondition(imageFeatures.allSatisfy { $0.regionCount == regions }, "every image has R regions")
        try put(
            "dims.i32",
            [
                1, c.hashBuckets, c.embeddingDimension, c.attentionDimension, c.modalityDimension,
                c.regionDimension, regions, (exampleImages.first?.count ?? 1) - 1, examples.count,
                imageFeatures.count, batch,
            ].map { Int32($0) }
        )
        try put(
            "hyper.f32",
            [c.margin, optimizer.learningRate, optimizer.beta1, optimizer.beta2, optimizer.epsilon]
        )
        for tensor in AMCTensor.allCases { try put("weights/\(tensor.rawValue).f32", weights[tensor]) }
        try put("image_regions.f32", imageFeatures.flatMap(\.regions))
        var imageKeywords: [Int32] = [0]
        var keywordEntries: [Int32] = [0]
        var keywordIndices: [Int32] = []
        var keywordCounts: [Float] = []
        for image in imageFeatures {
            for bag in image.keywords {
                keywordIndices += bag.indices
                keywordCounts += bag.counts
                keywordEntries.append(Int32(keywordIndices.count))
            }
            imageKeywords.append(Int32(keywordEntries.count - 1))
        }
        try put("image_keywords.i32", imageKeywords)
        try put("keyword_entries.i32", keywordEntries)
        try put("keyword_indices.i32", keywordIndices)
        try put("keyword_counts.f32", keywordCounts)
        var queryEntries: [Int32] = [0]
        var queryIndices: [Int32] = []
        var queryCounts: [Float] = []
        for example in examples {
            queryIndices += example.query.indices
            queryCounts += example.query.counts
            queryEntries.append(Int32(queryIndices.count))
        }
        try put("query_entries.i32", queryEntries)
        try put("query_indices.i32", queryIndices)
        try put("query_counts.f32", queryCounts)
        try put("example_images.i32", exampleImages.flatMap { $0 })
    }
}
