import ArgumentParser
import CommandSupport
import Foundation
import Learning
import Logging
import Model
import Registry
import ServiceLifecycle
import Synchronization
import UnixSignals

extension AMC {
    /// `amc learn`: bootstrap training, one fine-tuning cycle, or following the pairs as they change.
    struct Learn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train the AMC model from the relevance pairs and publish versions that pass the quality gate.",
            usage: "amc learn [--bootstrap] [--once | --follow] [<options>]",
            discussion: """
                --bootstrap trains every parameter on all pairs so far (and the baselines amc eval compares \
                with). Otherwise only the MTN modality attention is fine-tuned, on the pairs changed since the \
                active version's watermark. --once (the default) runs one cycle; --follow runs one every \
                learn.interval-seconds until SIGTERM. One learner leads (PostgreSQL advisory lock); others wait \
                and take over if it dies. See Docs/learning.md.
                """
        )

        @OptionGroup var options: GlobalOptions

        @OptionGroup var metricsOptions: MetricsOptions

        @Flag(help: "Train every parameter from fresh weights on all pairs so far.")
        var bootstrap = false

        @Flag(help: "Run one cycle and exit (the default).")
        var once = false

        @Flag(help: "Keep fine-tuning as new pairs arrive, until SIGTERM/SIGINT.")
        var follow = false

        @Option(help: "Bootstrap epochs (key learn.bootstrap.epochs). Default: 6.")
        var bootstrapEpochs: Int?

        @Option(help: "Fine-tuning epochs (key learn.finetune.epochs). Default: 8.")
        var finetuneEpochs: Int?

        @Option(help: "Bootstrap Adam step size (key learn.bootstrap.learning-rate). Default: 0.002.")
        var bootstrapLearningRate: Double?

        @Option(help: "Fine-tuning Adam step size (key learn.finetune.learning-rate). Default: 0.001.")
        var finetuneLearningRate: Double?

        @Option(help: "Largest held-out NDCG@5 drop the gate accepts (key learn.gate.tolerance). Default: 0.005.")
        var gateTolerance: Double?

        @Option(
            help: ArgumentHelp(
                "Seconds after which --follow re-checks for new pairs without a notification from ingest "
                    + "(key learn.interval-seconds). Default: 30."
            )
        )
        var intervalSeconds: Double?

        @Option(
            help: ArgumentHelp(
                "Seconds --follow waits after ingest's first commit notification, and after the previous cycle, "
                    + "before a cycle: commits within it fold into one (key learn.min-cycle-spacing-seconds). "
                    + "Default: 1."
            )
        )
        var minCycleSpacingSeconds: Double?

        @Option(
            help: ArgumentHelp(
                "Seconds of recent page views a fine-tuning cycle reads for its window's queries (key "
                    + "learn.evidence-horizon-seconds; 0: the window alone). Default: 60."
            )
        )
        var evidenceHorizonSeconds: Double?

        @Option(
            help: ArgumentHelp(
                "Architecture --bootstrap trains, one of: \(ModelArchitectures.ids.joined(separator: ", ")) "
                    + "(key learn.architecture). Default: amc."
            )
        )
        var architecture: String?

        @Option(
            help: ArgumentHelp(
                "How a version that passes the gate is promoted: gate (activated at once) or interleaving (activated "
                    + "only after it wins an interleaving experiment against the active version; key "
                    + "learn.promotion). Default: gate."
            )
        )
        var promotion: String?

        @Option(help: "Seed of weights, sampling and order (key learn.seed). Default: 1.")
        var seed: Int?

        @Flag(help: "Publish without activating (key learn.activate = false).")
        var noActivate = false

        @Flag(help: "With --bootstrap, skip the single-modality baselines (key learn.baselines = false).")
        var noBaselines = false

        @Flag(
            help: ArgumentHelp(
                "With --follow, poll every --interval-seconds instead of waking on ingest's commits "
                    + "(key learn.wake-on-commits = false)."
            )
        )
        var noWakeOnCommits = false

        func validate() throws {
            if once && follow { throw ValidationError("--once and --follow exclude each other") }
        }

        func run() async throws {
            var flags = FlagValues()
            flags.set("learn.bootstrap.epochs", bootstrapEpochs, flag: "--bootstrap-epochs")
            flags.set("learn.finetune.epochs", finetuneEpochs, flag: "--finetune-epochs")
            flags.set("learn.bootstrap.learning-rate", bootstrapLearningRate, flag: "--bootstrap-learning-rate")
            flags.set("learn.finetune.learning-rate", finetuneLearningRate, flag: "--finetune-learning-rate")
            flags.set("learn.gate.tolerance", gateTolerance, flag: "--gate-tolerance")
            flags.set("learn.interval-seconds", intervalSeconds, flag: "--interval-seconds")
            flags.set(
                "learn.min-cycle-spacing-seconds",
                minCycleSpacingSeconds,
                flag: "--min-cycle-spacing-seconds"
            )
            flags.set(
                "learn.evidence-horizon-seconds",
                evidenceHorizonSeconds,
                flag: "--evidence-horizon-seconds"
            )
            flags.set("learn.seed", seed, flag: "--seed")
            flags.set("learn.architecture", architecture, flag: "--architecture")
            flags.set("learn.promotion", promotion, flag: "--promotion")
            if noActivate { flags.set("learn.activate", false, flag: "--no-activate") }
            if noBaselines { flags.set("learn.baselines", false, flag: "--no-baselines") }
            if noWakeOnCommits { flags.set("learn.wake-on-commits", false, flag: "--no-wake-on-commits") }
            metricsOptions.set(into: &flags)
            let settings = try await options.resolve(extra: flags)
            let configuration = try settings.learnerConfiguration()
            let mode: LearnerMode =
                follow ? .follow(bootstrapFirst: bootstrap) : (bootstrap ? .bootstrap : .once)
            let logger = Logger(label: "amc.learn")
            let metricsEndpoint = try settings.metricsEndpoint(logger: logger)
            let bar = Mutex(ProgressBarState())
            let service = LearnerService(
                configuration: configuration,
                databaseURL: try settings.databaseURL(),
                mode: mode,
                worker: LearnerIdentity.current,
                logger: logger,
                onProgress: { progress in bar.withLock { $0.update(progress) } },
                onOutcome: { outcome in
                    bar.withLock { $0.finish() }
                    print(LearnOutcomeReport.line(outcome))
                }
            )
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)]
                        + (metricsEndpoint.map { [$0] } ?? []),
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            do {
                try await group.run()
            } catch let error where error is LearnerError || error is RegistryError {
                throw CommandError("\(error)")
            }
        }
    }
}

/// One progress bar per training phase and epoch.
struct ProgressBarState: Sendable {
    private var phase = ""
    private var bar: ProgressBar?

    mutating func update(_ progress: LearnerProgress) {
        let label = "\(progress.phase) epoch \(progress.epoch)/\(progress.epochs)"
        if label != phase {
            bar?.finish(done: 0, unit: "pairs")
            phase = label
            bar = ProgressBar(label: label, total: progress.examplesInEpoch)
        }
        bar?.update(done: progress.examplesDone, unit: "pairs")
    }

    mutating func finish() {
        bar = nil
        phase = ""
    }
}

extension Settings {
    /// Learner settings from the layered configuration, checked.
    func learnerConfiguration() throws -> LearnerConfiguration {
        var c = LearnerConfiguration()
        let count = ConfigBounds<Int>.within(1...1_000_000)
        let rate = ConfigBounds<Double>(requirement: "positive") { $0 > 0 }
        let dimension = ConfigBounds<Int>.within(1...65_536)
        c.bootstrapEpochs = try reader.int(forKey: "learn.bootstrap.epochs", default: c.bootstrapEpochs, bounds: count)
        c.fineTuneEpochs = try reader.int(forKey: "learn.finetune.epochs", default: c.fineTuneEpochs, bounds: count)
        c.batchSize = try reader.int(forKey: "learn.batch-size", default: c.batchSize, bounds: count)
        c.negatives = try reader.int(forKey: "learn.negatives", default: c.negatives, bounds: .within(1...10_000))
        c.inQueryNegatives = try reader.int(
            forKey: "learn.in-query-negatives",
            default: c.inQueryNegatives,
            bounds: .within(0...10_000)
        )
        c.auxiliaryModalityWeight = Float(
            try reader.double(
                forKey: "learn.bootstrap.auxiliary-weight",
                default: Double(c.auxiliaryModalityWeight),
                bounds: .within(0...1_000)
            )
        )
        c.bootstrapLearningRate = Float(
            try reader.double(
                forKey: "learn.bootstrap.learning-rate",
                default: Double(c.bootstrapLearningRate),
                bounds: rate
            )
        )
        c.fineTuneLearningRate = Float(
            try reader.double(
                forKey: "learn.finetune.learning-rate",
                default: Double(c.fineTuneLearningRate),
                bounds: rate
            )
        )
        c.holdoutPercent = try reader.int(
            forKey: "learn.holdout-percent",
            default: c.holdoutPercent,
            bounds: .within(0...50)
        )
        c.gateTolerance = try reader.double(
            forKey: "learn.gate.tolerance",
            default: c.gateTolerance,
            bounds: .atLeast(0)
        )
        c.gateSignificance = try reader.double(
            forKey: "learn.gate.p-value",
            default: c.gateSignificance,
            bounds: ConfigBounds(requirement: "in (0, 1)") { $0 > 0 && $0 < 1 }
        )
        c.gateCandidates = try reader.int(forKey: "learn.gate.candidates", default: c.gateCandidates, bounds: count)
        c.maxGateQueries = try reader.int(forKey: "learn.gate.max-queries", default: c.maxGateQueries, bounds: count)
        // The gate judges at most max-queries, so it can never gather more than that many.
        let maxGateQueries = c.maxGateQueries
        c.minGateQueries = try reader.int(
            forKey: "learn.gate.min-queries",
            default: min(c.minGateQueries, maxGateQueries),
            bounds: ConfigBounds(requirement: "in 0...\(maxGateQueries) (at most learn.gate.max-queries)") {
                $0 >= 0 && $0 <= maxGateQueries
            }
        )
        c.minNewPairs = try reader.int(forKey: "learn.min-new-pairs", default: c.minNewPairs, bounds: .atLeast(0))
        c.activate = try reader.bool(forKey: "learn.activate", default: c.activate)
        c.trainBaselines = try reader.bool(forKey: "learn.baselines", default: c.trainBaselines)
        c.architecture = try reader.string(
            forKey: "learn.architecture",
            default: c.architecture,
            oneOf: ModelArchitectures.ids
        )
        c.promotion = PromotionPolicy(
            rawValue: try reader.string(
                forKey: "learn.promotion",
                default: c.promotion.rawValue,
                oneOf: PromotionPolicy.allCases.map(\.rawValue)
            )
        )!
        c.interleaving.share = try reader.double(
            forKey: "learn.interleaving.share",
            default: c.interleaving.share,
            bounds: ConfigBounds(requirement: "in (0, 1]") { $0 > 0 && $0 <= 1 }
        )
        c.interleaving.minImpressions = try reader.int(
            forKey: "learn.interleaving.min-impressions",
            default: c.interleaving.minImpressions,
            bounds: count
        )
        c.interleaving.pValue = try reader.double(
            forKey: "learn.interleaving.p-value",
            default: c.interleaving.pValue,
            bounds: ConfigBounds(requirement: "in (0, 1)") { $0 > 0 && $0 < 1 }
        )
        c.interleaving.maxDuration = .seconds(
            try reader.double(
                forKey: "learn.interleaving.max-duration-seconds",
                default: 86_400,
                bounds: .positiveSeconds
            )
        )
        c.seed = UInt64(try reader.int(forKey: "learn.seed", default: Int(c.seed), bounds: .atLeast(0)))
        c.pollInterval = .seconds(
            try reader.double(forKey: "learn.interval-seconds", default: 30, bounds: .positiveSeconds)
        )
        c.minCycleSpacing = .seconds(
            try reader.double(forKey: "learn.min-cycle-spacing-seconds", default: 1, bounds: .within(0...1e9))
        )
        c.evidenceHorizon = .seconds(
            try reader.double(forKey: "learn.evidence-horizon-seconds", default: 60, bounds: .within(0...1e9))
        )
        c.wakeOnCommits = try reader.bool(forKey: "learn.wake-on-commits", default: c.wakeOnCommits)
        c.model.embeddingDimension = try reader.int(
            forKey: "learn.model.embedding-dimension",
            default: c.model.embeddingDimension,
            bounds: dimension
        )
        c.model.attentionDimension = try reader.int(
            forKey: "learn.model.attention-dimension",
            default: c.model.attentionDimension,
            bounds: dimension
        )
        c.model.modalityDimension = try reader.int(
            forKey: "learn.model.modality-dimension",
            default: c.model.modalityDimension,
            bounds: dimension
        )
        c.model.hashBuckets = try reader.int(
            forKey: "learn.model.hash-buckets",
            default: c.model.hashBuckets,
            bounds: .within(16...(1 << 24))
        )
        c.model.margin = Float(
            try reader.double(forKey: "learn.model.margin", default: Double(c.model.margin), bounds: .atLeast(0))
        )
        c.architectures = try architectureTrainingSettings(over: c)
        return c
    }
}
