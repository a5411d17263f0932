import Catalog
import ClickLog
import CommandSupport
import Foundation
import Learning
import Logging
import Model
import Postgres
import Registry
import ServiceLifecycle
import Serving
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `amc bench score`: in-process scoring latency of 100 candidates against a NumPy reference of the same forward
/// pass, HTTP throughput and latency on loopback under concurrent load, and the same load during hot swaps — all
/// in one run on the embedded default.
public struct BenchScore: Sendable {
    /// Images in the synthetic catalog.
    public var images = 2000

    /// Region cells per image (R); D is the model's region dimension (32).
    public var regions = 16

    /// Mean keywords per image (K is uniform in K-4...K+4).
    public var keywords = 30

    /// Candidates scored per query (in-process and per HTTP request).
    public var candidates = 100

    /// Timed in-process queries (each with its own random candidates); the reference scores the same.
    public var queries = 2000

    /// Rounds the timed in-process queries are split into, alternating with ONNX Runtime's rounds of the same
    /// queries, so that both tails come from the same minutes of the machine (1: one after the other). Each side
    /// starts a round with its share's first queries unmeasured, as the phases did once each.
    public var inProcessRounds = 5

    /// Concurrent HTTP clients (keep-alive connections), in both load phases.
    public var clients = 2

    /// Seconds of the steady HTTP load (split over the rounds).
    public var seconds = 5.0

    /// Rounds of steady load then swaps (the swaps split over them), so both phases share a background.
    public var rounds = 5

    /// Seconds of unmeasured HTTP load before the steady phase (connections, first-use costs).
    public var warmup = 2.0

    /// Activations during the swap phase, each of a version the worker has not loaded before.
    public var swaps = 50

    /// Rollbacks after the swap phase (back and forth between the last two versions).
    public var rollbacks = 10

    /// Milliseconds from one activation to the next.
    public var swapInterval = 100

    /// Swap in unrelated bootstrap versions (every swap re-encodes the catalog) instead of MTN fine-tunes of the
    /// first (encodings reused).
    public var reencode = false

    /// Seed of the catalog, the queries and the weights.
    public var seed: UInt64 = 42

    /// The NumPy reference scorer (python3-numpy).
    public var reference = "Benchmarks/reference_score.py"

    /// The Python interpreter that runs the references (looked up in PATH unless it contains a '/').
    public var python = "python3"

    /// Skip the reference (no comparison, no cross-check).
    public var skipReference = false

    /// The ONNX Runtime reference (onnx and onnxruntime: `bash Benchmarks/venv.sh` prints a Python that has them).
    public var onnxReference = "Benchmarks/reference_score_onnx.py"

    /// Skip the ONNX Runtime reference.
    public var skipOnnxReference = false

    /// Keep the folder with the reference's data and weights files.
    public var keep = false

    /// The architectures measured beside AMC, each in process and against its NumPy reference (AMC's own run
    /// always runs). Default: every architecture of ``ModelArchitectures/all``.
    public var architectures = ModelArchitectures.ids

    /// The NumPy reference runner of the other architectures (it imports `reference_models/<id>.py` beside it).
    public var modelReference = "Benchmarks/reference_score_model.py"

    /// The defaults.
    public init() {}

    /// What is wrong with the parameters, or nil when they are usable.
    public var invalidParameters: String? {
        guard images >= 2, regions >= 1, keywords >= 5, candidates >= 1, candidates <= images, queries >= 100,
            inProcessRounds >= 1, inProcessRounds <= queries / 20, clients >= 1, seconds > 0, warmup >= 0,
            swaps >= 1, swapInterval >= 1, rounds >= 1, rounds <= swaps, swaps >= 2, rollbacks >= 0
        else {
            return
                "images ≥ 2, regions ≥ 1, keywords ≥ 5, 1 ≤ candidates ≤ images, queries ≥ 100, 1 ≤ in-process-rounds ≤ queries / 20, clients ≥ 1, seconds > 0, warmup ≥ 0, swaps ≥ 1, swap-interval ≥ 1, 1 ≤ rounds ≤ swaps, swaps ≥ 2, rollbacks ≥ 0"
        }
        guard candidates <= ServingConfiguration().maxImages else {
            return "candidates must be at most \(ServingConfiguration().maxImages) (serve.max-images)"
        }
        if let unknown = architectures.first(where: { !ModelArchitectures.ids.contains($0) }) {
            return "unknown architecture \(unknown); known: \(ModelArchitectures.ids.joined(separator: ", "))"
        }
        return nil
    }

    /// Runs the benchmark and prints its figures.
    /// - Parameters:
    ///   - migrations: The folder of migrations the benchmark's database gets.
    ///   - logLevel: The level of the run's log (the scoring worker logs at warning or above).
    public func run(migrations: URL, logLevel: Logger.Level) async throws {
        if !skipReference {
            guard FileManager.default.fileExists(atPath: reference) else {
                throw CommandError(
                    "reference scorer \(reference) not found (run from the repository root, pass --reference, or --skip-reference)"
                )
            }
            let python = python
            guard try await onBlockingThread({ NumPyReference.isAvailable(python: python) }) else {
                throw CommandError(
                    "NumPy is missing for \(python): install python3-numpy (bash Deploy/local/install-deps.sh)"
                )
            }
            try ModelReference.checkModules(runner: modelReference, architectures: otherArchitectures)
        }
        if !skipOnnxReference {
            let python = python
            guard try await onBlockingThread({ OnnxRuntimeReference.isAvailable(python: python) }) else {
                throw CommandError(
                    "onnx or onnxruntime is missing for \(python): pass --python \"$(bash Benchmarks/venv.sh)\" (or --skip-onnx-reference)"
                )
            }
        }
        let logger = Logger(label: "amc.bench")
        var serverLogger = Logger(label: "amc.bench.serve")
        // The watcher logs every swap at info: 50 lines of noise here.
        serverLogger.logLevel = max(logLevel, .warning)
        let modelConfiguration = ModelConfiguration()
        let workload = ScoreWorkload(
            images: images,
            regions: regions,
            dimension: modelConfiguration.regionDimension,
            keywords: keywords,
            candidates: candidates,
            queries: queries,
            seed: seed
        )
        let first = AMCWeights(configuration: modelConfiguration, seed: seed)
        let (reencode, seed) = (reencode, seed)
        // One new version per swap: a swap always loads weights the worker has never seen. An MTN fine-tune of
        // `first` keeps its image encoders, so the swap reuses the catalog's encodings, as an online cycle does.
        let swapped: [AMCWeights] = (0..<swaps).map { index in
            let other = AMCWeights(configuration: modelConfiguration, seed: seed &+ 1 &+ UInt64(index))
            guard !reencode else { return other }
            var fineTune = first
            for tensor in AMCTensor.allCases where tensor.isModalityAttention {
                fineTune.withTensor(tensor) { $0 = other[tensor] }
            }
            return fineTune
        }
        print(
            """
            synthetic catalog: \(images) images (R=\(regions) regions of D=\(modelConfiguration.regionDimension), \
            K=\(keywords - 4)–\(keywords + 4) keywords), \(candidates) random candidates per query; \
            versions: a bootstrap, then \(swaps) \(reencode ? "other bootstraps (swaps re-encode the catalog)" : "MTN fine-tunes of it (swaps reuse encodings)")
            """
        )

        // PostgreSQL on a memory file system where there is one: the swap figures measure the worker, not how this
        // machine's disk copes with the versions' 100+ MB of writes.
        let memory = URL(fileURLWithPath: "/dev/shm", isDirectory: true)
        let base =
            FileManager.default.isWritableFile(atPath: memory.path) ? memory : FileManager.default.temporaryDirectory
        let root = base.appendingPathComponent("amc-bench-score-\(getpid())")
        let stack = try await onBlockingThread {
            try EmbeddedStack(
                directory: root.appendingPathComponent("postgres"),
                migrations: migrations,
                topics: [],
                partitions: 1,
                fastUnsafe: true,
                logger: logger
            )
        }
        defer {
            stack.stop()
            if !keep { try? FileManager.default.removeItem(at: root) }
        }
        let databaseURL = try await onBlockingThread { try stack.freshDatabase("bench_score") }
        let versions = try await onBlockingThread {
            try Self.prepareDatabase(
                databaseURL,
                workload: workload,
                first: first,
                swapped: swapped,
                fineTune: !reencode,
                seed: seed,
                logger: logger
            )
        }

        // The scoring worker, in this process, on a free loopback port.
        var serving = ServingConfiguration()
        serving.port = 0
        let holder = ModelHolder()
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = ScoringAPI.buildApplication(
            configuration: serving,
            databaseURL: databaseURL,
            holder: holder,
            logger: serverLogger,
            onServerRunning: { port in portContinuation.yield(port) }
        )
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: serverLogger))
        let server = Task { try await group.run() }
        var report: Report
        do {
            var port = 0
            for await bound in ports {
                port = bound
                break
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while holder.current()?.version != versions.first {
                guard ContinuousClock.now < deadline else {
                    throw CommandError("the scoring worker did not load version \(versions.first) within 60 s")
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            report = try await measure(
                workload: workload,
                weights: first,
                holder: holder,
                port: port,
                versions: versions,
                databaseURL: databaseURL,
                directory: root.appendingPathComponent("reference"),
                logger: logger
            )
            // Every other architecture, after AMC's run, on the same worker, catalog, queries and candidates.
            report.architectures = try await measureArchitectures(
                workload: workload,
                holder: holder,
                databaseURL: databaseURL,
                directory: root,
                logger: logger
            )
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await server.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await server.value
        report.print(candidates: candidates, clients: clients, swaps: swaps, swapInterval: swapInterval)
    }

    // MARK: - Phases

    private func measure(
        workload: ScoreWorkload,
        weights: AMCWeights,
        holder: ModelHolder,
        port: Int,
        versions: (first: Int64, swapped: [Int64]),
        databaseURL: String,
        directory: URL,
        logger: Logger
    ) async throws -> Report {
        guard let served = holder.current() else { throw CommandError("no model loaded") }
        var report = Report()

        // 1. In-process: ServedModel.score on the loaded snapshot, one query after another, the server idle — in
        // rounds alternating with ONNX Runtime's rounds of the same queries (2), when it runs, so that a shared
        // machine's background weighs on both tails alike.
        let ourScores = workload.exactScores(served.model)
        if !skipReference || !skipOnnxReference {
            try workload.write(to: directory, weights: weights, model: AMCModel(weights: weights))
        }
        let (script, python) = (onnxReference, python)
        var onnxRounds: OnnxRuntimeReference.Rounds?
        if !skipOnnxReference && inProcessRounds > 1 {
            let rounds = inProcessRounds
            onnxRounds = try await onBlockingThread {
                try OnnxRuntimeReference.Rounds(script, python: python, directory: directory, rounds: rounds)
            }
        }
        let (timings, servedScores) = try await Self.scoreInProcess(
            served,
            workload: workload,
            rounds: inProcessRounds
        ) { round in
            guard let onnxRounds else { return }
            try await onBlockingThread { try onnxRounds.time(round: round) }
        }
        report.inProcess = LatencySummary(timings)
        // The references are cross-checked against the model's exact scores (a float32 catalog); the worker's own
        // catalog precision (`serve.encoding`) moves them by what it is documented to.
        print(
            String(
                format: "in-process: %d queries × %d candidates%@, p50 %.3f ms, p99 %.3f ms (%@ catalog: scores "
                    + "within %.1e of float32)",
                workload.inProcess.count,
                candidates,
                inProcessRounds == 1
                    ? ""
                    : " in \(inProcessRounds) rounds\(onnxRounds == nil ? "" : " alternating with ONNX Runtime's")",
                report.inProcess.p50,
                report.inProcess.p99,
                served.catalogPrecision.rawValue,
                Self.largestDifference(servedScores, ourScores)
            )
        )

        // 2. The references, on the same weights, catalog, queries and candidates; cross-checked. ONNX Runtime's
        // timed rounds ran above (or run here, in one, with a single round).
        if !skipOnnxReference {
            let result = try await onBlockingThread { [onnxRounds] in
                try onnxRounds?.finish() ?? OnnxRuntimeReference.run(script, python: python, directory: directory)
            }
            report.onnxRuntime = result.latency
            report.onnxRuntimeVersions = result.versions
            report.onnxScoreDifference = try OnnxRuntimeReference.check(
                ours: ourScores,
                theirs: result.scores,
                candidates: candidates,
                tolerance: 1e-4
            )
            print(
                OnnxRuntimeReference.summary(
                    result.latency,
                    ours: report.inProcess,
                    difference: report.onnxScoreDifference
                )
            )
        }

        if !skipReference {
            let reference = reference
            let result = try await onBlockingThread {
                try Self.runReference(reference, python: python, directory: directory)
            }
            report.reference = result.latency
            report.referenceVersions = result.versions
            let theirs = try NumPyReference.readFloats(directory.appendingPathComponent("scores.f32"))
            guard theirs.count == ourScores.count else {
                throw CommandError("the NumPy reference wrote \(theirs.count) scores, expected \(ourScores.count)")
            }
            var worst: Float = 0
            var worstAt = 0
            for i in ourScores.indices where !(abs(ourScores[i] - theirs[i]) <= worst) {
                worst = abs(ourScores[i] - theirs[i])
                worstAt = i
            }
            report.maxScoreDifference = worst
            guard worst <= 1e-4 else {
                throw CommandError(
                    "the Swift scorer and the NumPy reference disagree: query \(worstAt / candidates + 1), candidate \(worstAt % candidates + 1): \(ourScores[worstAt]) vs \(theirs[worstAt])"
                )
            }
            print(
                String(
                    format: "reference:  same queries in NumPy, p50 %.3f ms, p99 %.3f ms; scores agree within %.1e",
                    result.latency.p50,
                    result.latency.p99,
                    worst
                )
            )
        }

        // 2b. What a swap costs the watcher before any encoding: fetch a version's weights, check its sha256, decode.
        let secondVersion = versions.swapped[0]
        let loads = try await onBlockingThread {
            let connection = try PostgresConnection.connect(databaseURL, logger: logger)
            defer { connection.close() }
            let registry = ModelRegistry(connection: connection)
            return try (0..<20).map { _ in
                let started = ContinuousClock.now
                _ = try registry.weights(of: secondVersion)
                return (ContinuousClock.now - started).inMilliseconds
            }
        }
        report.versionLoad = LatencySummary(loads)
        print(
            String(
                format: "version load (fetch, sha256 check, decode): p50 %.2f ms, max %.2f ms",
                report.versionLoad.p50,
                report.versionLoad.max
            )
        )

        // 3–4. HTTP, steady and under hot swaps, in alternating rounds of the same load (after an unmeasured
        // warm-up): both see the same background, so their p99s compare like with like.
        _ = try await Self.load(port: port, requests: workload.requests, clients: clients) {
            try await Task.sleep(for: .seconds(warmup))
        }
        var steadySamples: [HTTPSample] = []
        var steadySeconds = 0.0
        var swapSamples: [HTTPSample] = []
        var swapSeconds = 0.0
        var log: [Activation] = []
        var misversioned = 0
        for round in 0..<rounds {
            let steady = try await Self.load(port: port, requests: workload.requests, clients: clients) {
                try await Task.sleep(for: .seconds(seconds / Double(rounds)))
            }
            steadySamples += steady.samples
            steadySeconds += steady.seconds
            let servedBefore = log.last?.version ?? versions.first
            let (swapped, done) = try await activateUnderLoad(
                Array(versions.swapped[(round * swaps / rounds)..<((round + 1) * swaps / rounds)]),
                reason: "hot swap",
                requests: workload.requests,
                port: port,
                databaseURL: databaseURL,
                holder: holder,
                logger: logger
            )
            misversioned += Self.misversioned(swapped.samples, log: done, initial: servedBefore)
            swapSamples += swapped.samples
            swapSeconds += swapped.seconds
            log += done
        }

        // 5. Rollbacks under the same load: back and forth between the last two versions, as `amc model rollback`
        // does; the worker still holds the model it replaced, so no weights travel.
        let rollbackVersions = (0..<rollbacks).map { i in
            i % 2 == 0 ? log[log.count - 2].version : log[log.count - 1].version
        }
        let (rolledBack, rollbackDone) = try await activateUnderLoad(
            rollbackVersions,
            reason: "rollback",
            requests: workload.requests,
            port: port,
            databaseURL: databaseURL,
            holder: holder,
            logger: logger
        )
        misversioned += Self.misversioned(rolledBack.samples, log: rollbackDone, initial: log[log.count - 1].version)
        report.rollbackFailed = rolledBack.failed
        report.rollbackLatency = LatencySummary(rollbackDone.map { ($0.served - $0.committed).inMilliseconds })
        report.swapTimeouts += rollbackDone.filter(\.timedOut).count
        let steady = LoadResult(samples: steadySamples, seconds: steadySeconds)
        report.steady = steady.summary()
        report.steadyFailed = steady.failed
        report.steadyRate = Double(steady.samples.count) / steady.seconds
        print(
            String(
                format: "HTTP steady: %d clients, %.0f requests/s, p50 %.2f ms, p99 %.2f ms, %d failed",
                clients,
                report.steadyRate,
                report.steady.p50,
                report.steady.p99,
                steady.failed
            )
        )
        let swapped = LoadResult(samples: swapSamples, seconds: swapSeconds)
        report.swapping = swapped.summary()
        report.swapFailed = swapped.failed
        report.swapRate = Double(swapped.samples.count) / swapped.seconds
        report.misversioned = misversioned
        report.swapLatency = LatencySummary(log.map { ($0.served - $0.committed).inMilliseconds })
        report.swapTimeouts += log.filter(\.timedOut).count
        report.swapsDone = log.count
        print(
            String(
                format:
                    "HTTP swaps:  %d activations, %.0f requests/s, p50 %.2f ms, p99 %.2f ms, %d failed, %d mis-versioned",
                log.count,
                report.swapRate,
                report.swapping.p50,
                report.swapping.p99,
                swapped.failed,
                report.misversioned
            )
        )
        return report
    }

    /// The largest `|a[i] − b[i]|` (NaN when one is).
    static func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
        var largest: Float = 0
        for (x, y) in zip(a, b) where !(abs(x - y) <= largest) {
            largest = abs(x - y)
            if largest.isNaN { break }
        }
        return largest
    }

    /// Scores every in-process query one after another on the calling task and times each; returns the timings (ms)
    /// and the scores in candidate order (queries × candidates), for the cross-check. (Scoring is async since a
    /// catalog under a memory budget may read a request's misses from the database; a resident catalog never
    /// suspends.)
    /// - Parameters:
    ///   - rounds: Consecutive shares the queries are timed in; with more than one, each share's first
    ///     ``OnnxRuntimeReference/Rounds/warmupQueries`` run unmeasured first.
    ///   - afterRound: Called after each share with its number (1…`rounds`): another side's round of the same
    ///     queries.
    static func scoreInProcess(
        _ served: ServedModel,
        workload: ScoreWorkload,
        rounds: Int = 1,
        afterRound: (Int) async throws -> Void = { _ in }
    ) async throws -> ([Double], [Float]) {
        let keys = workload.images.map(\.key)
        let requests = workload.inProcess.map {
            (query: workload.queries[$0.query], keys: $0.candidates.map { keys[$0] })
        }
        for request in requests.prefix(50) {
            _ = try await served.score(query: request.query, images: request.keys, top: nil)
        }
        var timings: [Double] = []
        var results: [ScoringResult] = []
        timings.reserveCapacity(requests.count)
        results.reserveCapacity(requests.count)
        for round in 0..<rounds {
            let share = requests[(requests.count * round / rounds)..<(requests.count * (round + 1) / rounds)]
            if rounds > 1 {
                for request in share.prefix(OnnxRuntimeReference.Rounds.warmupQueries) {
                    _ = try await served.score(query: request.query, images: request.keys, top: nil)
                }
            }
            for request in share {
                let started = ContinuousClock.now
                let result = try await served.score(query: request.query, images: request.keys, top: nil)
                timings.append((ContinuousClock.now - started).inMilliseconds)
                results.append(result)
            }
            try await afterRound(round + 1)
        }
        var scores: [Float] = []
        scores.reserveCapacity(requests.count * (requests.first?.keys.count ?? 0))
        for (request, result) in zip(requests, results) {
            let byKey = Dictionary(uniqueKeysWithValues: result.results.map { ($0.image, $0.score) })
            scores += request.keys.map { byKey[$0] ?? .nan }
        }
        return (timings, scores)
    }

    /// Inserts the catalog, the first version (activated) and the versions to swap in.
    static func prepareDatabase(
        _ url: String,
        workload: ScoreWorkload,
        first: AMCWeights,
        swapped: [AMCWeights],
        fineTune: Bool,
        seed: UInt64,
        logger: Logger
    ) throws -> (first: Int64, swapped: [Int64]) {
        let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        try CatalogStore(connection: connection).upsert(workload.images)
        return try connection.transaction { connection in
            let registry = ModelRegistry(connection: connection)
            let watermark = try PairStore(connection: connection).currentWatermark()
            let firstVersion = try registry.insert(
                try benchVersion(
                    kind: .bootstrap,
                    parent: nil,
                    parameters: first.parameters,
                    watermark: watermark,
                    seed: seed
                )
            )
            let swappedVersions = try swapped.enumerated().map { index, weights in
                try registry.insert(
                    try benchVersion(
                        kind: fineTune ? .finetune : .bootstrap,
                        parent: fineTune ? firstVersion : nil,
                        parameters: weights.parameters,
                        watermark: watermark,
                        seed: seed &+ 1 &+ UInt64(index)
                    )
                )
            }
            try registry.activate(firstVersion, actor: "amc bench score", reason: "benchmark setup")
            return (firstVersion, swappedVersions)
        }
    }

    /// A registry entry for synthetic weights of any architecture; the metadata types have no public
    /// initialisers, so they are decoded from JSON.
    static func benchVersion(
        kind: ModelVersionKind,
        parent: Int64?,
        parameters: ModelParameters,
        watermark: String,
        seed: UInt64
    ) throws -> ModelRegistry.NewVersion {
        let c = ModelConfiguration(hyperParameters: parameters.hyperParameters)
        let window = """
            {"incremental": \(parent != nil), "untilWatermark": "\(watermark)", "pairs": 0, "queries": 0, \
            "clicks": 0, "heldOutPairs": 0, "unknownImagePairs": 0}
            """
        let hyperparameters = """
            {"scope": "\(kind == .bootstrap ? "all" : "modality_attention")", "epochs": 0, "batchSize": 16, \
            "negatives": 4, "inQueryNegatives": 0, "auxiliaryModalityWeight": 0, "learningRate": 0.001, \
            "margin": \(c.margin), "seed": \(seed), "hashBuckets": \(c.hashBuckets), \
            "embeddingDimension": \(c.embeddingDimension), "attentionDimension": \(c.attentionDimension), \
            "modalityDimension": \(c.modalityDimension), "regionDimension": \(c.regionDimension)}
            """
        let metrics = """
            {"gate": {"passed": true, "reason": "amc bench score: synthetic weights, not trained", "tolerance": 0, \
            "finiteWeights": true}, "training": {"firstEpochLoss": 0, "lastEpochLoss": 0, "examples": 0, "seconds": 0}}
            """
        let decoder = JSONDecoder()
        return ModelRegistry.NewVersion(
            kind: kind,
            parent: parent,
            parameters: parameters,
            watermark: watermark,
            trainingWindow: try decoder.decode(TrainingWindow.self, from: Data(window.utf8)),
            hyperparameters: try decoder.decode(Hyperparameters.self, from: Data(hyperparameters.utf8)),
            metrics: try decoder.decode(VersionMetrics.self, from: Data(metrics.utf8)),
            createdBy: "amc bench score (\(ProcessInfo.processInfo.hostName), pid \(getpid()))"
        )
    }

    /// One activation of the swap phase.
    struct Activation: Sendable {
        var version: Int64
        /// Before its transaction began, after it committed, and when the holder first served it.
        var started: ContinuousClock.Instant
        var committed: ContinuousClock.Instant
        var served: ContinuousClock.Instant
        var timedOut: Bool
    }

    /// Runs the HTTP load while ``activate(_:reason:databaseURL:interval:holder:logger:)`` activates `versions`
    /// (200 ms into the load; the load goes on 100 ms after the last is served).
    /// - Returns: The load's samples and the activations.
    private func activateUnderLoad(
        _ versions: [Int64],
        reason: String,
        requests: [[UInt8]],
        port: Int,
        databaseURL: String,
        holder: ModelHolder,
        logger: Logger
    ) async throws -> (LoadResult, [Activation]) {
        let log = Mutex<[Activation]>([])
        let interval = swapInterval
        let result = try await Self.load(port: port, requests: requests, clients: clients) {
            try await Task.sleep(for: .milliseconds(200))
            let done = try await onBlockingThread {
                try Self.activate(
                    versions,
                    reason: reason,
                    databaseURL: databaseURL,
                    interval: interval,
                    holder: holder,
                    logger: logger
                )
            }
            log.withLock { $0 = done }
            try await Task.sleep(for: .milliseconds(100))
        }
        return (result, log.withLock { $0 })
    }

    /// Activates `versions` in turn, each in its own transaction, `interval` ms apart, waiting (polling the
    /// holder every millisecond) until each is served before the next.
    static func activate(
        _ versions: [Int64],
        reason: String,
        databaseURL: String,
        interval: Int,
        holder: ModelHolder,
        logger: Logger
    ) throws -> [Activation] {
        let connection = try PostgresConnection.connect(databaseURL, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        var log: [Activation] = []
        for version in versions {
            let started = ContinuousClock.now
            _ = try connection.transaction { connection in
                try ModelRegistry(connection: connection).activate(
                    version,
                    actor: "amc bench score",
                    reason: reason
                )
            }
            let committed = ContinuousClock.now
            var timedOut = false
            while holder.current()?.version != version {
                if ContinuousClock.now - committed > .seconds(10) {
                    timedOut = true
                    break
                }
                usleep(1000)
            }
            log.append(
                Activation(
                    version: version,
                    started: started,
                    committed: committed,
                    served: ContinuousClock.now,
                    timedOut: timedOut
                )
            )
            let next = started + .milliseconds(interval)
            if ContinuousClock.now < next { Thread.sleep(forTimeInterval: (next - ContinuousClock.now).seconds) }
        }
        return log
    }

    /// Successful responses whose version was not being served at any moment between the request's start and
    /// its end: version `v_i` counts as served from the start of its activation until the holder was seen
    /// serving the next one (the initial version from the start).
    static func misversioned(_ samples: [HTTPSample], log: [Activation], initial: Int64) -> Int {
        var intervals: [(version: Int64, from: ContinuousClock.Instant?, until: ContinuousClock.Instant?)] = []
        intervals.append((initial, nil, log.first?.served))
        for (i, activation) in log.enumerated() {
            intervals.append((activation.version, activation.started, i + 1 < log.count ? log[i + 1].served : nil))
        }
        return samples.filter { sample in
            guard sample.status == 200 else { return false }
            guard let version = sample.version else { return true }
            return !intervals.contains { interval in
                interval.version == version && (interval.from.map { $0 <= sample.end } ?? true)
                    && (interval.until.map { $0 >= sample.start } ?? true)
            }
        }.count
    }

    // MARK: - HTTP load

    struct HTTPSample: Sendable {
        var start: ContinuousClock.Instant
        var end: ContinuousClock.Instant
        /// 0 when the request failed without a response.
        var status: Int
        /// The body's `model_version` (nil when missing or different from the `AMC-Model-Version` header).
        var version: Int64?
    }

    struct LoadResult {
        var samples: [HTTPSample]
        var seconds: Double
        var failed: Int { samples.filter { $0.status != 200 }.count }

        func summary() -> LatencySummary {
            LatencySummary(samples.map { ($0.end - $0.start).inMilliseconds })
        }
    }

    /// Runs `clients` keep-alive clients (one thread each, back to back requests) while `during` runs.
    static func load(
        port: Int,
        requests: [[UInt8]],
        clients: Int,
        during: @Sendable () async throws -> Void
    ) async throws -> LoadResult {
        let stop = StopFlag()
        let started = ContinuousClock.now
        return try await withThrowingTaskGroup(of: [HTTPSample].self) { group in
            for client in 0..<clients {
                group.addTask {
                    try await onBlockingThread {
                        runClient(port: port, requests: requests, offset: client * 7919, stop: stop)
                    }
                }
            }
            do {
                try await during()
            } catch {
                stop.set()
                throw error
            }
            stop.set()
            let seconds = (ContinuousClock.now - started).seconds
            var samples: [HTTPSample] = []
            for try await part in group { samples += part }
            return LoadResult(samples: samples, seconds: seconds)
        }
    }

    /// One client: sends the requests round-robin over one connection (reconnecting after a failure) until
    /// stopped.
    static func runClient(port: Int, requests: [[UInt8]], offset: Int, stop: StopFlag) -> [HTTPSample] {
        var samples: [HTTPSample] = []
        var connection: LoopbackHTTPConnection?
        var next = offset
        while !stop.isSet {
            let request = requests[next % requests.count]
            next += 1
            let start = ContinuousClock.now
            do {
                if connection == nil { connection = try LoopbackHTTPConnection(port: port) }
                let response = try connection!.roundTrip(request)
                let bodyVersion = response.bodyVersion
                samples.append(
                    HTTPSample(
                        start: start,
                        end: ContinuousClock.now,
                        status: response.status,
                        version: bodyVersion == response.headerVersion ? bodyVersion : nil
                    )
                )
            } catch {
                connection = nil
                samples.append(HTTPSample(start: start, end: ContinuousClock.now, status: 0, version: nil))
            }
        }
        return samples
    }

    // MARK: - Reference

    static func runReference(
        _ script: String,
        python: String,
        directory: URL
    ) throws -> (
        latency: LatencySummary, versions: String
    ) {
        let (latency, versions) = NumPyReference.scoringFigures(
            try NumPyReference.run(script, python: python, arguments: [directory.path])
        )
        guard let latency else { throw CommandError("the NumPy reference printed no REFERENCE line") }
        return (latency, versions)
    }
}

// MARK: - Figures

extension BenchScore {
    struct Report {
        var inProcess = LatencySummary()
        var reference: LatencySummary?
        var referenceVersions = ""
        var maxScoreDifference: Float = 0
        var onnxRuntime: LatencySummary?
        var onnxRuntimeVersions = ""
        var onnxScoreDifference: Float = 0
        var steady = LatencySummary()
        var steadyRate = 0.0
        var steadyFailed = 0
        var swapping = LatencySummary()
        var swapRate = 0.0
        var swapFailed = 0
        var misversioned = 0
        var swapLatency = LatencySummary()
        var rollbackLatency = LatencySummary()
        var rollbackFailed = 0
        var versionLoad = LatencySummary()
        var swapTimeouts = 0
        var swapsDone = 0
        /// The other architectures' rows (AMC's is built from the figures above).
        var architectures: [ArchitectureRow] = []

        /// AMC's row of the per-architecture table.
        var amcRow: ArchitectureRow {
            ArchitectureRow(
                architecture: AMCModel.architecture,
                inProcess: inProcess,
                reference: reference,
                scoreDifference: maxScoreDifference
            )
        }

        var swapRatio: Double { steady.p99 > 0 ? swapping.p99 / steady.p99 : 0 }

        /// The machine-readable summary line.
        var resultLine: String {
            String(
                format:
                    "RESULT score_p99_ms=%.3f http_p99_ms=%.3f swap_failed=%d swap_p99_ratio=%.2f ort_p99_ms=%.3f",
                inProcess.p99,
                steady.p99,
                swapFailed + rollbackFailed + misversioned,
                swapRatio,
                onnxRuntime?.p99 ?? .nan
            )
        }

        func print(candidates: Int, clients: Int, swaps: Int, swapInterval: Int) {
            func ms(_ value: Double) -> String { String(format: "%9.3f", value) }
            Swift.print("")
            if let reference, !referenceVersions.isEmpty {
                Swift.print("reference: \(referenceVersions), \(reference.count) queries")
            }
            Swift.print("                                        p50 ms    p99 ms    max ms      count")
            func row(_ name: String, _ s: LatencySummary, _ extra: String = "") {
                Swift.print(
                    name.padding(toLength: 36, withPad: " ", startingAt: 0) + ms(s.p50) + " " + ms(s.p99) + " "
                        + ms(s.max) + String(format: " %10d", s.count) + extra
                )
            }
            row("score \(candidates), in-process (amc)", inProcess)
            if let reference {
                row(
                    "score \(candidates), NumPy reference",
                    reference,
                    String(format: "   amc/NumPy at p50: %.2f×", inProcess.p50 / Swift.max(reference.p50, 1e-9))
                )
            }
            if let onnxRuntime {
                row(
                    "score \(candidates), ONNX Runtime 1 thread",
                    onnxRuntime,
                    OnnxRuntimeReference.ratio(inProcess, onnxRuntime)
                )
            }
            row(
                "HTTP steady, \(clients) clients",
                steady,
                String(format: "   %.0f req/s, %d failed", steadyRate, steadyFailed)
            )
            row(
                "HTTP during \(swapsDone) swaps",
                swapping,
                String(format: "   %.0f req/s, %d failed, %d mis-versioned", swapRate, swapFailed, misversioned)
            )
            row("version load (fetch, check, decode)", versionLoad)
            row(
                "activation commit → served",
                swapLatency,
                swapTimeouts > 0 ? "   \(swapTimeouts) not served within 10 s" : ""
            )
            row(
                "rollback commit → served",
                rollbackLatency,
                String(format: "   %d failed requests meanwhile", rollbackFailed)
            )
            if reference != nil {
                Swift.print(
                    String(format: "check: scores agree with the NumPy reference within %.1e", maxScoreDifference)
                )
            }
            Swift.print(
                String(
                    format:
                        "targets: in-process p99 %.3f ms (< 2 ms: %@); swaps %d failed, %d mis-versioned (0: %@); p99 ratio %.2f (≤ 1.2: %@)",
                    inProcess.p99,
                    inProcess.p99 < 2 ? "met" : "MISSED",
                    swapFailed + rollbackFailed,
                    misversioned,
                    swapFailed + rollbackFailed == 0 && misversioned == 0 && swapTimeouts == 0 ? "met" : "MISSED",
                    swapRatio,
                    swapRatio <= 1.2 ? "met" : "MISSED"
                )
            )
            if let onnxRuntime {
                Swift.print(
                    OnnxRuntimeReference.target(inProcess, onnxRuntime, onnxRuntimeVersions, onnxScoreDifference)
                )
            }
            BenchScore.printArchitectures([amcRow] + architectures, candidates: candidates)
            Swift.print(resultLine)
        }
    }
}

// MARK: - Workload

/// A deterministic synthetic catalog (topics with their own words and region prototype), a pool of queries,
/// the in-process queries with their candidates, and the HTTP requests.
struct ScoreWorkload: Sendable {
    let images: [CatalogImage]
    let queries: [String]
    /// Query (index into ``queries``) and candidates (indices into ``images``) of each in-process query.
    let inProcess: [(query: Int, candidates: [Int])]
    /// Complete HTTP/1.1 requests (`POST /v1/score`), each with its own query and random candidates.
    let requests: [[UInt8]]
    /// The number of topics; image `i` is of topic `i % topicCount`.
    let topicCount: Int
    /// The topic of each query of ``queries``.
    let queryTopics: [Int]

    init(
        images count: Int,
        regions: Int,
        dimension: Int,
        keywords: Int,
        candidates: Int,
        queries queryCount: Int,
        seed: UInt64
    ) {
        var rng = SplitMix64(seed: seed ^ 0x5c0_4e5)
        let syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "da", "shi", "gor", "bel", "an", "tre"]
        func word() -> String {
            (0..<(2 + Int(rng.next() % 2))).map { _ in syllables[Int(rng.next() % UInt64(syllables.count))] }.joined()
        }
        let topicCount = max(2, min(50, count / 10))
        let topicWords = (0..<topicCount).map { _ in (0..<30).map { _ in word() } }
        let commonWords = (0..<200).map { _ in word() }
        let prototypes = (0..<topicCount).map { _ in (0..<dimension).map { _ in rng.nextSymmetric(1) } }

        var images: [CatalogImage] = []
        images.reserveCapacity(count)
        for i in 0..<count {
            let topic = i % topicCount
            var cells: [Float] = []
            cells.reserveCapacity(regions * dimension)
            for _ in 0..<regions {
                for j in 0..<dimension { cells.append(prototypes[topic][j] + rng.nextSymmetric(0.6)) }
            }
            let k = max(1, keywords - 4 + Int(rng.next() % 9))
            var tags: [String] = []
            var seen = Set<String>()
            while tags.count < k {
                let tag = (0..<(1 + Int(rng.next() % 2))).map { _ in
                    rng.next() % 10 < 8 ? topicWords[topic][Int(rng.next() % 30)] : commonWords[Int(rng.next() % 200)]
                }.joined(separator: " ")
                if seen.insert(tag).inserted { tags.append(tag) }
            }
            images.append(
                CatalogImage(
                    key: "bench-\(String(format: "%06d", i))",
                    keywords: tags,
                    regions: cells,
                    regionCount: regions,
                    regionDimension: dimension
                )
            )
        }
        var queries: [String] = []
        var queryTopics: [Int] = []
        for _ in 0..<1000 {
            let topic = Int(rng.next() % UInt64(topicCount))
            queryTopics.append(topic)
            queries.append(
                (0..<(2 + Int(rng.next() % 3))).map { _ in topicWords[topic][Int(rng.next() % 30)] }
                    .joined(separator: " ")
            )
        }
        func sample() -> [Int] {
            var chosen: [Int] = []
            var seen = Set<Int>()
            while chosen.count < candidates {
                let image = Int(rng.next() % UInt64(count))
                if seen.insert(image).inserted { chosen.append(image) }
            }
            return chosen
        }
        var inProcess: [(query: Int, candidates: [Int])] = []
        for i in 0..<queryCount { inProcess.append((i % queries.count, sample())) }
        var requests: [[UInt8]] = []
        for i in 0..<512 {
            let keys = sample().map { "\"\(images[$0].key)\"" }.joined(separator: ",")
            let body = Array("{\"query\":\"\(queries[(i * 7) % queries.count])\",\"images\":[\(keys)]}".utf8)
            let head =
                "POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.count)\r\n\r\n"
            requests.append(Array(head.utf8) + body)
        }
        self.images = images
        self.queries = queries
        self.inProcess = inProcess
        self.requests = requests
        self.topicCount = topicCount
        self.queryTopics = queryTopics
    }

    /// Writes the weights, the catalog's features and the in-process queries as raw little-endian files (layout
    /// in `Benchmarks/reference_score.py`).
    func write(to directory: URL, weights: AMCWeights, model: AMCModel) throws {
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("weights"),
            withIntermediateDirectories: true
        )
        let c = weights.configuration
        try NumPyReference.write(
            [
                1, c.hashBuckets, c.embeddingDimension, c.attentionDimension, c.modalityDimension, c.regionDimension,
                regionCount, images.count, inProcess.count, candidatesPerQuery,
            ].map { Int32($0) },
            to: directory.appendingPathComponent("dims.i32")
        )
        for tensor in AMCTensor.allCases {
            try NumPyReference.write(
                weights[tensor],
                to: directory.appendingPathComponent("weights/\(tensor.rawValue).f32")
            )
        }
        try writeCatalog(to: directory, buckets: model.hashBuckets)
    }

    /// Region cells per image (R; every image has the same).
    var regionCount: Int { images.first?.regionCount ?? 0 }

    /// Candidates per in-process query.
    var candidatesPerQuery: Int { inProcess.first?.candidates.count ?? 0 }

    /// The in-process queries' text as the worker scores it (normalised like ingest).
    var normalizedQueries: [String] { inProcess.map { QueryNormalizer.normalize(queries[$0.query]) } }

    /// Every in-process query's candidates' scores by `model` over a float32 encoding of the catalog (bit-identical
    /// to scoring the raw features), in order: what the references are cross-checked against, whatever precision
    /// the timed worker keeps its catalog in.
    func exactScores(_ model: any ScoringModel) -> [Float] {
        let encoded = model.encodeImages(imageFeatures(buckets: model.hashBuckets))
        var scores: [Float] = []
        scores.reserveCapacity(inProcess.count * (inProcess.first?.candidates.count ?? 0))
        for (query, text) in zip(inProcess, normalizedQueries) {
            let scored = model.score(
                query: model.encodeQuery(text),
                encodedImages: query.candidates.map { encoded[$0] }
            )
            scores += scored.map(\.score)
        }
        return scores
    }

    /// Writes what every scoring reference reads besides the weights: the catalog's regions and hashed keywords,
    /// each in-process query's whole trigram bag and its candidates (layout in `Benchmarks/reference_score.py`).
    /// - Parameters:
    ///   - directory: An existing folder.
    ///   - buckets: The trigram bucket count `H` of the model scored.
    func writeCatalog(to directory: URL, buckets: Int) throws {
        func put(_ name: String, _ values: [Int32]) throws {
            try NumPyReference.write(values, to: directory.appendingPathComponent(name))
        }
        func put(_ name: String, _ values: [Float]) throws {
            try NumPyReference.write(values, to: directory.appendingPathComponent(name))
        }
        try put("image_regions.f32", images.flatMap(\.regions))
        var imageKeywords: [Int32] = [0]
        var keywordEntries: [Int32] = [0]
        var keywordIndices: [Int32] = []
        var keywordCounts: [Float] = []
        for image in images {
            for keyword in image.keywords {
                let bag = LetterTrigramHasher.encode(keyword, buckets: buckets)
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
        // What the worker does: normalise, then hash.
        for query in normalizedQueries {
            let bag = LetterTrigramHasher.encode(query, buckets: buckets)
            queryIndices += bag.indices
            queryCounts += bag.counts
            queryEntries.append(Int32(queryIndices.count))
        }
        try put("query_entries.i32", queryEntries)
        try put("query_indices.i32", queryIndices)
        try put("query_counts.f32", queryCounts)
        try put("candidates.i32", inProcess.flatMap { $0.candidates.map { Int32($0) } })
    }
}

extension Duration {
    fileprivate var inMilliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1e3 + Double(attoseconds) * 1e-15
    }
}
