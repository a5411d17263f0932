import Catalog
import ClickLog
import CommandSupport
import Foundation
import Learning
import Logging
import Model
import Postgres
import Registry
import Serving

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Every architecture

extension BenchScore {
    /// The architectures measured after AMC's run, in ``ModelArchitectures/all`` order: those of
    /// ``architectures`` other than AMC (whose figures the main run measures).
    var otherArchitectures: [String] {
        ModelArchitectures.ids.filter { $0 != AMCModel.architecture && architectures.contains($0) }
    }

    /// Minibatches of 16 trained from each other architecture's initial parameters before it is measured, so its
    /// scores are not those of an untrained model (an untrained late-fusion gate mixes every query evenly).
    static let architectureTrainingSteps = 10

    /// One architecture's figures: in-process scoring of the candidates beside its NumPy reference.
    struct ArchitectureRow: Sendable, Equatable {
        /// The architecture id.
        var architecture: String
        /// In-process scoring (``ServedModel/score(query:images:top:explain:)`` on the served version).
        var inProcess: LatencySummary
        /// The NumPy reference of the same forward pass, nil when skipped.
        var reference: LatencySummary?
        /// The largest difference between its scores and the reference's.
        var scoreDifference: Float = 0

        /// `ARCH <id> p50_ms=… p99_ms=… numpy_p99_ms=…` (`nan` without the reference).
        var line: String {
            String(
                format: "ARCH %@ p50_ms=%.3f p99_ms=%.3f numpy_p99_ms=%.3f",
                architecture,
                inProcess.p50,
                inProcess.p99,
                reference?.p99 ?? .nan
            )
        }

        /// Whether it meets the scoring targets: p99 under 2 ms and, when the reference ran, faster than it at p50.
        var meetsTargets: Bool {
            inProcess.p99 < 2 && (reference.map { inProcess.p50 < $0.p50 } ?? true)
        }
    }

    /// Prints the per-architecture table and one `ARCH` line each.
    static func printArchitectures(_ rows: [ArchitectureRow], candidates: Int) {
        func column(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
        }
        Swift.print("")
        Swift.print(
            "score \(candidates), in process".padding(toLength: 22, withPad: " ", startingAt: 0) + column("p50 ms", 10)
                + column("p99 ms", 10) + column("NumPy p50", 12) + column("p99 ms", 10) + column("ours/NumPy p50", 17)
                + column("scores agree", 15) + "   targets (p99 < 2 ms, faster than NumPy at p50)"
        )
        for row in rows {
            let reference = row.reference
            Swift.print(
                row.architecture.padding(toLength: 22, withPad: " ", startingAt: 0)
                    + column(String(format: "%.3f", row.inProcess.p50), 10)
                    + column(String(format: "%.3f", row.inProcess.p99), 10)
                    + column(reference.map { String(format: "%.3f", $0.p50) } ?? "—", 12)
                    + column(reference.map { String(format: "%.3f", $0.p99) } ?? "—", 10)
                    + column(
                        reference.map { String(format: "%.2f×", row.inProcess.p50 / Swift.max($0.p50, 1e-9)) } ?? "—",
                        17
                    )
                    + column(reference == nil ? "—" : String(format: "%.1e", row.scoreDifference), 15)
                    + "   " + (row.meetsTargets ? "met" : "MISSED")
            )
        }
        for row in rows { Swift.print(row.line) }
    }

    /// For each of ``otherArchitectures``: parameters from its initialisation and a few training steps, a version
    /// activated on the worker, in-process scoring of the same queries and candidates as AMC's, and its NumPy
    /// reference cross-checked.
    func measureArchitectures(
        workload: ScoreWorkload,
        holder: ModelHolder,
        databaseURL: String,
        directory: URL,
        logger: Logger
    ) async throws -> [ArchitectureRow] {
        var rows: [ArchitectureRow] = []
        for architecture in otherArchitectures {
            let seed = seed
            let parameters = try await onBlockingThread {
                try Self.benchParameters(architecture: architecture, workload: workload, seed: seed)
            }
            let version = try await onBlockingThread {
                try Self.activateArchitecture(parameters, databaseURL: databaseURL, seed: seed, logger: logger)
            }
            let deadline = ContinuousClock.now + .seconds(120)
            while holder.current()?.version != version {
                guard ContinuousClock.now < deadline else {
                    throw CommandError(
                        "the scoring worker did not load version \(version) (architecture \(architecture)) within 120 s"
                    )
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            guard let served = holder.current(), served.version == version else {
                throw CommandError(
                    "the scoring worker stopped serving version \(version) (architecture \(architecture))"
                )
            }
            let (timings, servedScores) = try await Self.scoreInProcess(served, workload: workload)
            let ours = workload.exactScores(served.model)
            var row = ArchitectureRow(architecture: architecture, inProcess: LatencySummary(timings))
            var summary = String(
                format: "%@ in-process: %d queries × %d candidates, p50 %.3f ms, p99 %.3f ms (%@ catalog: scores "
                    + "within %.1e of float32)",
                architecture,
                workload.inProcess.count,
                candidates,
                row.inProcess.p50,
                row.inProcess.p99,
                served.catalogPrecision.rawValue,
                Self.largestDifference(servedScores, ours)
            )
            if !skipReference {
                let folder = directory.appendingPathComponent("reference-\(architecture)")
                let (runner, python, model) = (modelReference, python, served.model)
                let result = try await onBlockingThread {
                    try ModelReference.write(to: folder, model: model, workload: workload)
                    return try ModelReference.run(runner, python: python, directory: folder, architecture: architecture)
                }
                row.reference = result.latency
                row.scoreDifference = try ModelReference.check(
                    ours: ours,
                    theirs: result.scores,
                    candidates: candidates,
                    architecture: architecture
                )
                summary += String(
                    format: "; NumPy p50 %.3f ms, p99 %.3f ms; scores agree within %.1e",
                    result.latency.p50,
                    result.latency.p99,
                    row.scoreDifference
                )
            }
            print(summary)
            rows.append(row)
        }
        return rows
    }

    /// An architecture's parameters for the benchmark: ``ModelArchitectures/initialParameters(architecture:seed:hyperParameters:)``
    /// with the default model settings, then ``architectureTrainingSteps`` minibatches of examples from the
    /// workload's topics (all tensors, Adam at 0.01).
    static func benchParameters(architecture: String, workload: ScoreWorkload, seed: UInt64) throws -> ModelParameters {
        let initial = try ModelArchitectures.initialParameters(
            architecture: architecture,
            seed: seed,
            hyperParameters: ModelConfiguration().hyperParameters
        )
        let model = try ModelArchitectures.model(from: initial)
        let batch = 16
        let examples = workload.trainingExamples(
            count: architectureTrainingSteps * batch,
            negatives: 4,
            buckets: model.hashBuckets,
            seed: seed
        )
        var trainer = model.makeTrainer(TrainerSettings(learningRate: 0.01, scope: .all))
        for start in stride(from: 0, to: examples.count, by: batch) {
            _ = trainer.step(examples[start..<min(start + batch, examples.count)])
        }
        let trained = trainer.scoringModel
        guard trained.isFinite else {
            throw CommandError("\(architecture): training steps on the benchmark's examples made non-finite weights")
        }
        return trained.parameters
    }

    /// Inserts `parameters` as a bootstrap version and activates it; returns the version.
    static func activateArchitecture(
        _ parameters: ModelParameters,
        databaseURL: String,
        seed: UInt64,
        logger: Logger
    ) throws -> Int64 {
        let connection = try PostgresConnection.connect(databaseURL, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        return try connection.transaction { connection in
            let registry = ModelRegistry(connection: connection)
            let watermark = try PairStore(connection: connection).currentWatermark()
            let version = try registry.insert(
                try benchVersion(
                    kind: .bootstrap,
                    parent: nil,
                    parameters: parameters,
                    watermark: watermark,
                    seed: seed
                )
            )
            try registry.activate(
                version,
                actor: "amc bench score",
                reason: "architecture \(parameters.architecture)"
            )
            return version
        }
    }
}

extension ScoreWorkload {
    /// The catalog's images as a model reads them, keywords hashed with `buckets`, in catalog order.
    func imageFeatures(buckets: Int) -> [ImageFeatures] {
        images.map { image in
            ImageFeatures(
                regions: image.regions,
                regionCount: image.regionCount,
                keywords: image.keywords.map { LetterTrigramHasher.encode($0, buckets: buckets) }
            )
        }
    }

    /// Training examples from the catalog's topics: a random query of the pool, a clicked image of its topic and
    /// `negatives` images of other topics.
    /// - Parameters:
    ///   - count: Examples.
    ///   - negatives: Negatives per example.
    ///   - buckets: The trigram bucket count of the model trained.
    ///   - seed: The seed of the draw.
    func trainingExamples(count: Int, negatives: Int, buckets: Int, seed: UInt64) -> [TrainingExample] {
        var rng = SplitMix64(seed: seed ^ 0x7ea1_0e5)
        let features = imageFeatures(buckets: buckets)
        return (0..<count).map { _ in
            let query = Int(rng.next() % UInt64(queries.count))
            let topic = queryTopics[query]
            // Images topic, topic + topicCount, …: at least one, as there are no more topics than images.
            let ofTopic = (images.count - topic + topicCount - 1) / topicCount
            let positive = topic + topicCount * Int(rng.next() % UInt64(ofTopic))
            var others: [Int] = []
            while others.count < negatives {
                let candidate = Int(rng.next() % UInt64(images.count))
                if candidate % topicCount != topic { others.append(candidate) }
            }
            return TrainingExample(
                query: QueryInput(QueryNormalizer.normalize(queries[query]), buckets: buckets),
                positive: features[positive],
                negatives: others.map { features[$0] }
            )
        }
    }
}
