import Catalog
import ClickLog
import CommandSupport
import Evaluation
import Foundation
import Ingest
import Kafka
import Learning
import Logging
import Model
import Postgres
import Registry
import Simulation
import Synchronization
import UserSimulation

/// `amc bench adapt`: how fast the live loop adapts. Simulated users search an in-process scoring worker at a steady
/// rate, ingest lands their clicks, a following learner fine-tunes and activates, the worker hot-swaps; at t₀ the
/// intent of some concepts shifts. Measured: (a) click → model, from a click's production to the worker's first
/// serving of a version whose training window includes it, p50/p99; (b) adaptation, from t₀ to the first serving
/// of a version whose NDCG@5 on the shifted labels is within a tolerance of a full retrain on the shifted intent (a
/// bootstrap from scratch on the world's offline log and its offline shifted click log, `Benchmarks/quality.sh`'s
/// "retrained").
/// The same users and shift run twice: with the learner waking on ingest's commits, then polling every
/// `learn.interval-seconds` (the baseline, `learn.wake-on-commits = false`).
public struct BenchAdapt: Sendable {
    /// Clicks per second the users aim at; their visits per second are this over the world's clicks per visit.
    public var rate = 2000.0

    /// Seconds of simulated traffic in each run.
    public var duration = 150.0

    /// Seconds after the start of the traffic at which the intent shifts (t₀).
    public var shiftAt = 30.0

    /// Most scoring requests in flight at once.
    public var concurrency = 32

    /// The architecture bootstrapped before the runs and retrained on the shifted intent (fine-tunes keep it).
    public var architecture = AMCModel.architecture

    /// The polling baseline's interval, in seconds (`learn.interval-seconds`' default).
    public var baselineInterval = 30.0

    /// The waking learner's `learn.min-cycle-spacing-seconds`.
    public var minCycleSpacing = 1.0

    /// How close to the retrain's NDCG@5 the served version must come.
    public var tolerance = 0.01

    /// The runs' learners' `learn.gate.tolerance` (the bootstraps have no parent to be gated against).
    public var gateTolerance = LearnerConfiguration().gateTolerance

    /// Longest wait after the traffic for a served version to include every click (clicks still outside it then
    /// are reported as not reached).
    public var settle = 60.0

    /// Images, concepts, training and held-out queries of the simulated world (the defaults: `amc simulate`'s).
    public var images = WorldConfiguration().images
    public var concepts = WorldConfiguration().concepts
    public var queries = WorldConfiguration().trainingQueries
    public var heldOut = WorldConfiguration().heldOutQueries

    /// Share of the world's visual-intent concepts whose users turn to the tags at t₀ (the world's default: 0.5).
    public var shiftedShare = WorldConfiguration().shiftedShare

    /// Seed of the world (the users' seed is 1).
    public var seed = WorldConfiguration().seed

    /// A PostgreSQL URL of a server that may `CREATE DATABASE`: the scratch databases go there (dropped at the
    /// end) instead of on a throwaway local server.
    public var adminURL: String?

    /// Skip the polling baseline (its adapt time is printed as 0).
    public var skipBaseline = false

    /// The defaults.
    public init() {}

    /// What is wrong with the parameters, or nil when they are usable.
    public var invalidParameters: String? {
        guard rate > 0, rate.isFinite, duration > 0, shiftAt >= 0, shiftAt < duration, concurrency >= 1,
            baselineInterval > 0, minCycleSpacing >= 0, tolerance >= 0, gateTolerance >= 0, settle >= 0
        else {
            return "rate > 0, duration > 0, 0 ≤ shift-at < duration, concurrency ≥ 1, baseline-interval > 0, "
                + "min-cycle-spacing ≥ 0, tolerance ≥ 0, gate-tolerance ≥ 0, settle ≥ 0"
        }
        guard ModelArchitectures.ids.contains(architecture) else {
            return "unknown architecture \(architecture); known: \(ModelArchitectures.ids.joined(separator: ", "))"
        }
        if let problem = world.problem { return problem }
        return nil
    }

    /// The world's configuration.
    var world: WorldConfiguration {
        var configuration = WorldConfiguration()
        configuration.images = images
        configuration.concepts = concepts
        configuration.trainingQueries = queries
        configuration.heldOutQueries = heldOut
        configuration.shiftedShare = shiftedShare
        configuration.seed = seed
        return configuration
    }

    /// Runs the benchmark and prints its figures.
    /// - Parameters:
    ///   - migrations: The folder of migrations the databases get.
    ///   - logLevel: The level of the run's log (the worker, ingest and learner log at warning or above).
    public func run(migrations: URL, logLevel: Logger.Level) async throws {
        let logger = {
            var logger = Logger(label: "amc.bench.adapt")
            logger.logLevel = max(logLevel, .warning)
            return logger
        }()
        let configuration = world
        let (world, history) = try await onBlockingThread {
            let world = World(configuration: configuration)
            return (world, world.clicks())
        }
        let historyClicks = history.triads.reduce(0) { $0 + $1.clicks }
        let clicksPerVisit =
            Double(historyClicks) / Double(configuration.trainingQueries * configuration.sessionsPerQuery)
        let visitRate = rate / clicksPerVisit
        let shiftedConcepts = world.concepts.filter(\.shifts).count
        print(
            """
            world: \(configuration.images) images, \(configuration.concepts) concepts (\(shiftedConcepts) shift to \
            their tags at t₀), \(configuration.trainingQueries) training and \(configuration.heldOutQueries) \
            held-out queries (seed \(configuration.seed))
            users: aiming at \(Self.fixed(rate, 0)) clicks/s, starting at \(Self.fixed(visitRate, 0)) queries/s \
            (\(Self.fixed(clicksPerVisit, 2)) clicks per query in the offline log), then paced by the run's own clicks \
            per query; at most \(concurrency) in flight; \
            \(Self.fixed(duration, 0)) s of traffic per run, intent shift at t₀ = \(Self.fixed(shiftAt, 0)) s
            """
        )

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("amc-bench-adapt-\(getpid())")
        let adminURL = adminURL
        let databases = try await onBlockingThread {
            try ScratchDatabases(
                adminURL: adminURL,
                directory: root.appendingPathComponent("postgres"),
                migrations: migrations,
                logger: logger
            )
        }
        let cluster: MockKafkaCluster
        do {
            cluster = try MockKafkaCluster(brokers: 1, logger: logger)
            for topic in Topic.allCases { try cluster.createTopic(topic.rawValue, partitions: 4) }
        } catch {
            databases.stop()
            throw error
        }
        defer {
            cluster.shutdown()
            databases.stop()
            try? FileManager.default.removeItem(at: root)
        }
        let brokers = cluster.bootstrapServers
        let shiftedLabels = LabelFile(parsing: world.devLabelsTSV(shifted: true)).queries

        // 1. The starting point: the world's offline click log ingested and bootstrapped.
        let baseURL = try await onBlockingThread { try databases.fresh("amc_bench_adapt_base") }
        let started = ContinuousClock.now
        try await onBlockingThread { try Self.importCatalog(world, baseURL, logger) }
        try await AdaptLoop.produce(
            world.clicksTSV(history).split(separator: "\n").map { Array($0.utf8) },
            topic: Topic.history.rawValue,
            brokers: brokers,
            logger: logger
        )
        try await AdaptLoop.ingestUntilIdle(Topic.history.rawValue, baseURL, brokers, logger)
        // The reference starts from the same offline log, without the bootstrap.
        let retrainURL = try await onBlockingThread {
            try databases.copy("amc_bench_adapt_base", to: "amc_bench_adapt_retrain")
        }
        let bootstrap = try await onBlockingThread {
            try Self.bootstrap(self.learnerConfiguration, baseURL, logger)
        }
        let startQuality = try await onBlockingThread { try Self.ndcg5(bootstrap, shiftedLabels, baseURL, logger) }
        print(
            "before the runs: \(historyClicks) offline clicks ingested, \(architecture) bootstrap version \(bootstrap) "
                + "(NDCG@5 \(Self.fixed(startQuality, 4)) on the shifted labels) in "
                + "\(Self.fixed((ContinuousClock.now - started).seconds, 1)) s"
        )

        // 2. The reference: a full retrain on the shifted intent, as Benchmarks/quality.sh's "retrained" — a bootstrap
        //    from scratch on the world's offline log and its offline shifted click log (`amc simulate --shifted`'s
        //    clicks-shifted.tsv: every training query replayed, the shifting concepts' users clicking by the tags
        //    over every page of candidates, not only the top of served rankings).
        let shifted = world.clicks(shifted: true)
        let shiftedClicks = shifted.triads.reduce(0) { $0 + $1.clicks }
        try await AdaptLoop.produce(
            world.clicksTSV(shifted).split(separator: "\n").map { Array($0.utf8) },
            topic: Topic.shifted.rawValue,
            brokers: brokers,
            logger: logger
        )
        try await AdaptLoop.ingestUntilIdle(Topic.shifted.rawValue, retrainURL, brokers, logger)
        let retrained = try await onBlockingThread {
            try Self.bootstrap(self.learnerConfiguration, retrainURL, logger)
        }
        let reference = try await onBlockingThread { try Self.ndcg5(retrained, shiftedLabels, retrainURL, logger) }
        print(
            "reference: a full retrain (\(architecture) bootstrap from scratch) on the offline log and the world's "
                + "offline shifted click log (\(historyClicks) + \(shiftedClicks) clicks): NDCG@5 "
                + "\(Self.fixed(reference, 4)) on the shifted labels; target \(Self.fixed(reference - tolerance, 4))"
        )

        // 3. The loop, waking on commits, then polling; each run on its own copy of the starting point.
        let users = SimulatedUsers(world: world, model: UserModel(), seed: 1)
        var runs: [AdaptLoop.Run] = []
        for wakes in skipBaseline ? [true] : [true, false] {
            let topic = wakes ? Topic.waking : Topic.polling
            let url = try await onBlockingThread {
                try databases.copy(
                    "amc_bench_adapt_base",
                    to: wakes ? "amc_bench_adapt_waking" : "amc_bench_adapt_polling"
                )
            }
            var learner = learnerConfiguration
            learner.wakeOnCommits = wakes
            learner.pollInterval = wakes ? LearnerConfiguration().pollInterval : .seconds(baselineInterval)
            learner.minCycleSpacing = .seconds(minCycleSpacing)
            learner.gateTolerance = gateTolerance
            let loop = AdaptLoop(
                name: wakes ? "waking" : "polling",
                databaseURL: url,
                topic: topic.rawValue,
                brokers: brokers,
                learner: learner,
                users: users,
                visitRate: visitRate,
                clickRate: rate,
                concurrency: concurrency,
                duration: duration,
                shiftAt: shiftAt,
                settle: settle,
                logger: logger
            )
            let run = try await loop.run()
            runs.append(run)
            print(run.summary)
        }

        // 4. The measures of each run.
        var measured: [(run: AdaptLoop.Run, latency: ClickToModel.Outcome, adaptation: AdaptationDetection.Outcome)] =
            []
        for run in runs {
            let (latency, adaptation) = try await onBlockingThread {
                try Self.measure(run, reference: reference, tolerance: self.tolerance, labels: shiftedLabels, logger)
            }
            measured.append((run, latency, adaptation))
        }
        print("")
        for (run, latency, adaptation) in measured {
            for line in Self.lines(run, latency, adaptation) { print(line) }
        }
        if measured.contains(where: { $0.adaptation.seconds == 0 }) {
            print(
                "note: the version serving at t₀ already came within \(tolerance) of the full retrain on the shifted "
                    + "labels, so adapt_s is 0: the retrain does not beat it by more than that"
            )
        }
        let waking = measured[0]
        let baseline = measured.count > 1 ? measured[1].adaptation.seconds : nil
        print(
            Self.resultLine(
                clickToModelP50: waking.latency.percentile(0.5),
                adapt: waking.adaptation.seconds,
                baselineAdapt: skipBaseline ? 0 : baseline
            )
        )
    }

    /// The machine-readable summary line; a figure the run never reached (half the clicks in no served version, no
    /// version within the tolerance) is printed as -1.
    static func resultLine(clickToModelP50: Double?, adapt: Double?, baselineAdapt: Double?) -> String {
        String(
            format: "RESULT click_to_model_p50_s=%.2f adapt_s=%.1f baseline_adapt_s=%.1f",
            clickToModelP50 ?? -1,
            adapt ?? -1,
            baselineAdapt ?? -1
        )
    }

    /// The topics of the benchmark.
    enum Topic: String, CaseIterable {
        case history = "adapt-history"
        case waking = "adapt-waking"
        case polling = "adapt-polling"
        case shifted = "adapt-shifted"
    }

    /// The bootstraps' settings (the architecture's defaults, no baselines).
    var learnerConfiguration: LearnerConfiguration {
        var configuration = LearnerConfiguration()
        configuration.architecture = architecture
        configuration.trainBaselines = false
        return configuration
    }

    // MARK: - Steps

    /// Imports the world's catalog.
    static func importCatalog(_ world: World, _ url: String, _ logger: Logger) throws {
        let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        _ = try CatalogStore(connection: connection).upsert(
            world.images.map {
                CatalogImage(
                    key: $0.key,
                    keywords: $0.keywords,
                    regions: $0.regions,
                    regionCount: world.configuration.regions,
                    regionDimension: world.configuration.dimension
                )
            }
        )
    }

    /// Bootstraps, publishes and activates a version on the database's pairs.
    static func bootstrap(_ configuration: LearnerConfiguration, _ url: String, _ logger: Logger) throws -> Int64 {
        let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        guard try LearnerLeadership(connection: connection).tryAcquire() else {
            throw CommandError("another learner leads the benchmark's database")
        }
        let outcome = try Learner(
            configuration: configuration,
            connection: connection,
            worker: "bench adapt " + LearnerIdentity.current,
            logger: logger
        ).bootstrap()
        guard case .published(let version, _, _) = outcome else {
            throw CommandError("the bootstrap published nothing: " + LearnOutcomeReport.line(outcome))
        }
        return version
    }

    /// NDCG@5 of `version` on `labels`.
    static func ndcg5(_ version: Int64, _ labels: [JudgedQuery], _ url: String, _ logger: Logger) throws -> Double {
        let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        return try OfflineEvaluator(connection: connection).evaluate(labels: labels, version: version).rows[0]
            .metrics.ndcg5
    }

    /// The run's click → model latencies and its adaptation time.
    static func measure(
        _ run: AdaptLoop.Run,
        reference: Double,
        tolerance: Double,
        labels: [JudgedQuery],
        _ logger: Logger
    ) throws -> (ClickToModel.Outcome, AdaptationDetection.Outcome) {
        let connection = try PostgresConnection.connect(run.databaseURL, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        let clicks = try AdaptStore(connection: connection).clicks(topic: run.topic)
        let watermarks = Dictionary(
            uniqueKeysWithValues: try ModelRegistry(connection: connection).versions().map {
                ($0.version, $0.watermark)
            }
        )
        let served = try run.served.map { version in
            guard let text = watermarks[version.version], let watermark = TransactionSnapshot(text) else {
                throw CommandError("version \(version.version) has no readable watermark")
            }
            return ClickToModel.ServedVersion(
                version: version.version,
                watermark: watermark,
                servedAt: version.servedAt
            )
        }
        let latency = ClickToModel.match(clicks, served)
        let evaluator = OfflineEvaluator(connection: connection)
        let adaptation = try AdaptationDetection.detect(
            run.served,
            shift: run.shift,
            reference: reference,
            tolerance: tolerance
        ) { version in
            try evaluator.evaluate(labels: labels, version: version).rows[0].metrics.ndcg5
        }
        return (latency, adaptation)
    }

    /// The human lines of one run's measures.
    static func lines(
        _ run: AdaptLoop.Run,
        _ latency: ClickToModel.Outcome,
        _ adaptation: AdaptationDetection.Outcome
    ) -> [String] {
        func seconds(_ p: Double) -> String { latency.percentile(p).map { fixed($0, 2) + " s" } ?? "not reached" }
        var lines = [
            "\(run.name) learner: click → model p50 \(seconds(0.5)), p99 \(seconds(0.99)), max \(seconds(1)) over "
                + "\(latency.clicks) clicks"
                + (latency.uncovered > 0
                    ? " (\(latency.uncovered) in no served version by the end of the run, ranked last)" : "")
        ]
        let path = adaptation.evaluated.map {
            "v\($0.version) at t₀\($0.servedAt >= run.shift ? "+" : "−")\(fixed(abs($0.servedAt.timeIntervalSince(run.shift)), 1)) s: \(fixed($0.ndcg5, 4))"
        }
        lines.append(
            "\(run.name) learner: adapt "
                + (adaptation.seconds.map { "\(fixed($0, 1)) s after t₀" } ?? "not within the run")
                + " (NDCG@5 on the shifted labels of the versions served from t₀: "
                + path.joined(separator: ", ") + ")"
        )
        return lines
    }

    /// `value` with `digits` decimals.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }
}
