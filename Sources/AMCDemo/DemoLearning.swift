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

/// The demo's learning stage: a simulated world is streamed, ingested, learned from; then the query intent of
/// some concepts shifts, the learner fine-tunes online, and an operator rolls back and re-activates.
struct DemoLearning {
    /// Metrics of one version on one label set.
    struct Evaluation {
        var version: Int64
        var labels: String
        var rows: [EvaluationRow]
        /// Each method's ROC curve (in the rows' order), from the scores its AUC is computed from.
        var curves: [(method: String, curve: ROCCurve)] = []
        func ndcg5(_ method: String) -> Double { rows.first { $0.method == method }?.metrics.ndcg5 ?? 0 }
        /// NDCG@5 of the version itself (its row is the first, named by its architecture).
        var modelNDCG5: Double { rows.first?.metrics.ndcg5 ?? 0 }
    }

    /// Mean MTN visual weight β_v of a version's scores, by the intent of the held-out query's concept.
    struct ModalityWeights {
        var version: Int64
        var visualIntent: Double
        var textualIntent: Double
        var shiftedConcepts: Double
    }

    /// A version the stage published, for the NDCG@5-over-versions chart.
    struct PublishedVersion {
        var version: Int64
        var kind: String
        var createdAt: Date
    }

    /// One example query of an intent, explained for the attention-map section: the modality attention β of its
    /// best-scored candidate, the region attention α over the image's grid and the keywords with the most attention
    /// λ.
    struct AttentionExample {
        /// `visual intent`, `textual intent` or `shifted to tags`.
        var intent: String
        var query: String
        var image: String
        var version: Int64
        /// β_v and β_k (they sum to 1).
        var visualWeight: Double
        var keywordWeight: Double
        /// α over the region grid, row-major (`rows × columns` values); nil when the image has no regions or the
        /// architecture computes no region attention.
        var regionAttention: (rows: Int, columns: Int, weights: [Double])? = nil
        /// The keywords with the most attention λ, highest first; empty when the image has no keywords.
        var topKeywords: [(keyword: String, weight: Double)] = []
    }

    /// What the stage did.
    struct Report {
        var world: String
        var clicks: Int
        var shiftedClicks: Int
        var bootstrap: LearnerOutcome
        var fineTune: LearnerOutcome
        var evaluations: [Evaluation] = []
        /// Every architecture's bootstrap on the original held-out labels (`amc eval --all-architectures`), and the
        /// version activated as the best by NDCG@5.
        var comparison: EvaluationReport? = nil
        var best: (method: String, version: Int64)? = nil
        var weights: [ModalityWeights] = []
        /// Every version published, oldest first.
        var versions: [PublishedVersion] = []
        /// Example queries of each intent, explained by the final version.
        var attention: [AttentionExample] = []
        var activations: [ModelActivation] = []
        /// The live scoring traffic during the swaps.
        var requests = 0
        var failedRequests = 0
        var versionRuns: [Int64] = []
        /// How long after each activation the traffic was answered by the new version.
        var swaps: [(label: String, delay: Duration?)] = []
        var seconds: [(step: String, seconds: Double)] = []
    }

    let databaseURL: String
    let brokers: String
    let topic: String
    let logger: Logger

    /// Runs the stage; `say` prints a progress line.
    func run(say: @escaping @Sendable (String) -> Void) async throws -> Report {
        // The world the quality figures of Docs/benchmarks.md are measured on (seed 42).
        let configuration = WorldConfiguration()
        let world = World(configuration: configuration)
        let clicks = world.clicks()
        let timings = Mutex<[(step: String, seconds: Double)]>([])
        func timed<T: Sendable>(_ step: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
            let started = ContinuousClock.now
            let value = try await onBlockingThread(body)
            let seconds = (ContinuousClock.now - started).seconds
            timings.withLock { $0.append((step, seconds)) }
            return value
        }
        let (databaseURL, logger) = (databaseURL, logger)
        let connection = try await onBlockingThread {
            try PostgresConnection.connect(databaseURL, retryingFor: .seconds(10), logger: logger)
        }
        defer { connection.close() }

        let catalog = world.images.map {
            CatalogImage(
                key: $0.key,
                keywords: $0.keywords,
                regions: $0.regions,
                regionCount: configuration.regions,
                regionDimension: configuration.dimension
            )
        }
        _ = try await timed("catalog import") { try CatalogStore(connection: connection).upsert(catalog) }
        say("imported a simulated catalog of \(catalog.count) images (\(configuration.concepts) concepts)")

        let clickCount = clicks.triads.reduce(0) { $0 + $1.clicks }
        let streamed = try await stream(world.clicksTSV(clicks))
        timings.withLock { $0.append(("stream + ingest clicks", streamed)) }
        say(
            "streamed and ingested \(clicks.triads.count) click triads (\(clickCount) clicks) of "
                + "\(world.trainingQueries.count) queries"
        )

        var learnerConfiguration = LearnerConfiguration()
        learnerConfiguration.pollInterval = .milliseconds(200)
        let learner = Learner(
            configuration: learnerConfiguration,
            connection: connection,
            worker: "demo " + LearnerIdentity.current,
            logger: logger
        )
        let bootstrap = try await timed("bootstrap \(learnerConfiguration.architecture) and two baselines") {
            guard try LearnerLeadership(connection: connection).tryAcquire() else {
                throw CommandError("another learner leads the demo database")
            }
            return try learner.bootstrap()
        }
        say("\(learnerConfiguration.architecture): " + LearnOutcomeReport.line(bootstrap))
        // Every other architecture of the table, on the same pairs and budget, published as a candidate for the
        // comparison (not activated; the gate's comparison with the active version does not hold it back).
        for architecture in ModelArchitectures.ids where architecture != learnerConfiguration.architecture {
            var candidate = learnerConfiguration
            candidate.architecture = architecture
            candidate.trainBaselines = false
            candidate.activate = false
            candidate.gateTolerance = .infinity
            let learner = Learner(
                configuration: candidate,
                connection: connection,
                worker: "demo " + LearnerIdentity.current,
                logger: logger
            )
            let outcome = try await timed("bootstrap \(architecture)") { try learner.bootstrap() }
            say("\(architecture): " + LearnOutcomeReport.line(outcome))
        }

        let labels = Self.judged(world.devLabelsTSV())
        let shiftedLabels = Self.judged(world.devLabelsTSV(shifted: true))
        let registry = ModelRegistry(connection: connection)
        let comparison = try await timed("compare the architectures") {
            try OfflineEvaluator(connection: connection).compareArchitectures(labels: labels)
        }
        say(
            "every architecture on the held-out labels (amc eval --all-architectures):\n"
                + EvaluationTable.comparison(comparison)
        )
        // Serve the best: the version with the highest held-out NDCG@5 (the first of equals, the active one first).
        let best = comparison.rows.filter { $0.version != nil }.reduce(nil) { (best: EvaluationRow?, row) in
            guard let best else { return row }
            return row.metrics.ndcg5 > best.metrics.ndcg5 ? row : best
        }
        if let best, let version = best.version, version != comparison.version {
            try await onBlockingThread {
                _ = try connection.transaction { connection in
                    try ModelRegistry(connection: connection).activate(
                        version,
                        actor: "demo",
                        reason: "the best held-out NDCG@5 of every architecture: \(best.method) "
                            + String(format: "%.4f", best.metrics.ndcg5)
                    )
                }
            }
            say("activated version \(version) (\(best.method)): the best held-out NDCG@5 of every architecture")
        }
        guard let first = try await onBlockingThread({ try registry.activeVersion() }) else {
            throw CommandError("the demo's bootstrap published nothing")
        }
        // The baselines were trained beside the first bootstrap: every version is compared with them.
        let baselineVersion: Int64? =
            if case .published(let version, _, _) = bootstrap { version } else { nil }
        var report = Report(
            world: "\(configuration.images) images, \(configuration.concepts) concepts, "
                + "\(world.trainingQueries.count) training and \(world.heldOutQueries.count) held-out queries",
            clicks: clickCount,
            shiftedClicks: 0,
            bootstrap: bootstrap,
            fineTune: bootstrap
        )
        report.comparison = comparison
        report.best = best.flatMap { row in row.version.map { (row.method, $0) } }
        report.evaluations += try await onBlockingThread {
            [
                try Self.evaluate(first, on: labels, named: "original", baselinesOf: baselineVersion, connection),
                try Self.evaluate(first, on: shiftedLabels, named: "shifted", baselinesOf: baselineVersion, connection),
            ]
        }
        report.weights.append(
            try await onBlockingThread { try Self.modalityWeights(world, version: first, connection) }
        )

        say("starting the scoring worker (amc serve, in process) and live scoring traffic")
        let traffic = DemoTraffic(databaseURL: databaseURL, logger: logger)
        try await traffic.waitUntilReady()
        traffic.start(
            queries: world.heldOutQueries.map { query in
                (query.text, query.candidates.map { world.images[$0.image].key })
            }
        )
        // After the shift the clicks come from the loop itself: simulated users search the served version,
        // click on its rankings by the shifted world's truth, and ingest lands their clicks as they come.
        let live = try await simulatedUsers(world, visits: world.trainingQueries.count * 4, scorer: traffic.url)
        timings.withLock { $0.append(("simulated users + ingest (shifted)", live.seconds)) }
        report.shiftedClicks = live.report.tally.clicks
        say(
            "simulated users searched the served version after the intent shift (amc simulate users --shift-at 0): "
                + "\(live.report.visits) queries, \(live.report.tally.clicks) clicks ingested; "
                + "\(world.concepts.filter(\.shifts).count) visual concepts are now searched by their tags"
        )
        let fineTune = try await timed("online fine-tuning") { try learner.fineTune() }
        let fineTuneActivated = ContinuousClock.now
        report.fineTune = fineTune
        say(LearnOutcomeReport.line(fineTune))
        if let second = try await onBlockingThread({ try registry.activeVersion() }), second != first {
            report.swaps.append(
                ("\(first) → \(second) (learner)", try await traffic.firstSeen(second, since: fineTuneActivated))
            )
            report.evaluations += try await onBlockingThread {
                [
                    try Self.evaluate(second, on: labels, named: "original", baselinesOf: baselineVersion, connection),
                    try Self.evaluate(
                        second,
                        on: shiftedLabels,
                        named: "shifted",
                        baselinesOf: baselineVersion,
                        connection
                    ),
                ]
            }
            report.weights.append(
                try await onBlockingThread { try Self.modalityWeights(world, version: second, connection) }
            )
            let rolledBack = ContinuousClock.now
            try await onBlockingThread {
                _ = try connection.transaction { connection in
                    try ModelRegistry(connection: connection).activate(first, actor: "demo", reason: "rollback drill")
                }
            }
            report.swaps.append(
                ("\(second) → \(first) (rollback)", try await traffic.firstSeen(first, since: rolledBack))
            )
            say("rolled back to version \(first) (actor demo), then:")
            let reactivated = ContinuousClock.now
            try await onBlockingThread {
                _ = try connection.transaction { connection in
                    try ModelRegistry(connection: connection).activate(
                        second,
                        actor: "demo",
                        reason: "re-activated after the drill"
                    )
                }
            }
            report.swaps.append(
                ("\(first) → \(second) (re-activation)", try await traffic.firstSeen(second, since: reactivated))
            )
            say("re-activated version \(second)")
        }
        let tally = await traffic.stop()
        report.requests = tally.requests
        report.failedRequests = tally.failed
        report.versionRuns = tally.versionRuns
        report.activations = try await onBlockingThread { try registry.activations() }
        report.versions = try await onBlockingThread {
            try registry.versions().map {
                PublishedVersion(version: $0.version, kind: $0.kind.rawValue, createdAt: $0.createdAt)
            }
        }
        if let final = try await onBlockingThread({ try registry.activeVersion() }) {
            report.attention = try await onBlockingThread {
                try Self.attentionExamples(world, version: final, connection)
            }
        }
        report.seconds = timings.withLock { $0 }
        return report
    }

    /// Simulated users of `world`, with the intent already shifted, make `visits` searches on the scorer at `scorer`
    /// as fast as it answers; ingest runs alongside (so the producer never runs far ahead of it) until idle.
    private func simulatedUsers(
        _ world: World,
        visits: Int,
        scorer: URL?
    ) async throws -> (report: UserSimulationReport, seconds: Double) {
        guard let scorer else { throw CommandError("the demo's scoring worker is not listening") }
        let started = ContinuousClock.now
        var configuration = UserSimulationConfiguration()
        configuration.serveURL = scorer
        configuration.topic = topic
        configuration.rate = 10_000
        configuration.maxVisits = visits
        configuration.shiftAt = .zero
        let driver = UserSimulationDriver(
            users: SimulatedUsers(world: world, model: UserModel(), seed: 1),
            configuration: configuration,
            kafka: KafkaConfig(bootstrapServers: brokers),
            logger: logger
        )
        var ingestConfiguration = IngestConfiguration()
        ingestConfiguration.untilIdle = .seconds(2)
        ingestConfiguration.topics = [topic]
        let ingest = IngestService(
            configuration: ingestConfiguration,
            kafka: KafkaConfig(bootstrapServers: brokers),
            databaseURL: databaseURL,
            logger: logger
        )
        async let ingested: Void = ingest.run()
        try await driver.run()
        try await ingested
        let report = driver.report
        guard report.tally.pages > 0, report.notDelivered == 0 else {
            throw CommandError(
                "the demo's simulated users got \(report.tally.pages) answers and \(report.notDelivered) click "
                    + "events were not delivered: \(report.lastFailure ?? "")"
            )
        }
        return (report, (ContinuousClock.now - started).seconds)
    }

    /// Produces `tsv`'s lines into the demo topic and ingests until idle.
    private func stream(_ tsv: String) async throws -> Double {
        let started = ContinuousClock.now
        let (brokers, topic, logger) = (brokers, topic, logger)
        _ = try await onBlockingThread {
            let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: brokers), logger: logger)
            var publisher = ClickPublisher(producer: producer, topic: topic)
            for line in tsv.split(separator: "\n") { _ = try publisher.publish(ArraySlice(line.utf8)) }
            try producer.flush(timeout: .seconds(30))
            return publisher.sent
        }
        var configuration = IngestConfiguration()
        configuration.untilIdle = .seconds(2)
        configuration.topics = [topic]
        try await IngestService(
            configuration: configuration,
            kafka: KafkaConfig(bootstrapServers: brokers),
            databaseURL: databaseURL,
            logger: logger
        ).run()
        return (ContinuousClock.now - started).seconds
    }

    /// The metrics and ROC curves of `version` and the baselines on one label set.
    static func evaluate(
        _ version: Int64,
        on labels: [JudgedQuery],
        named name: String,
        baselinesOf: Int64?,
        _ connection: PostgresConnection
    ) throws -> Evaluation {
        let evaluator = OfflineEvaluator(connection: connection)
        return Evaluation(
            version: version,
            labels: name,
            rows: try evaluator.evaluate(labels: labels, version: version, baselinesOf: baselinesOf).rows,
            curves: try evaluator.rocCurves(labels: labels, version: version, baselinesOf: baselinesOf)
        )
    }

    /// The first held-out query of each intent (visual, textual, shifted to tags), its best-scored relevant
    /// candidate under `version`, and that score's explanation: β, α over the region grid, the top keywords by λ.
    static func attentionExamples(
        _ world: World,
        version: Int64,
        _ connection: PostgresConnection
    ) throws -> [AttentionExample] {
        let model = try ModelRegistry(connection: connection).model(of: version)
        var examples: [AttentionExample] = []
        for (name, matches) in [
            ("visual intent", { (c: Concept) in c.intent == .visual && !c.shifts }),
            ("textual intent", { (c: Concept) in c.intent == .textual }),
            ("shifted to tags", { (c: Concept) in c.shifts }),
        ] as [(String, (Concept) -> Bool)] {
            guard let query = world.heldOutQueries.first(where: { matches(world.concepts[$0.concept]) }) else {
                continue
            }
            let candidates = query.candidates.filter { $0.label != .bad }.map { world.images[$0.image] }
            let features = candidates.map {
                ImageFeatures(
                    regions: $0.regions,
                    regionCount: world.configuration.regions,
                    keywords: model.keywordInputs($0.keywords)
                )
            }
            let encoded = model.encodeQuery(query.text)
            let encodedImages = model.encodeImages(features)
            guard
                let best = model.score(query: encoded, encodedImages: encodedImages).max(by: { $0.score < $1.score }),
                let explanation = model.explain(query: encoded, encodedImages: [encodedImages[best.index]]).first
            else { continue }
            let image = candidates[best.index]
            examples.append(
                AttentionExample(
                    intent: name,
                    query: query.text,
                    image: image.key,
                    version: version,
                    visualWeight: Double(best.visualWeight),
                    keywordWeight: Double(best.languageWeight),
                    regionAttention: explanation.regionAttention.map { grid in
                        (grid.rows, grid.columns, grid.weights.map(Double.init))
                    },
                    topKeywords: explanation.keywordAttention.prefix(5).map { item in
                        (image.keywords[item.index], Double(item.weight))
                    }
                )
            )
        }
        return examples
    }

    /// Labels in DevSetLabel form as judged queries.
    static func judged(_ tsv: String) -> [JudgedQuery] {
        LabelFile(parsing: tsv).queries
    }

    /// Mean β_v over the held-out queries' relevant candidates (Excellent or Good), by the intent of the query's
    /// concept (and for the concepts that shift).
    static func modalityWeights(
        _ world: World,
        version: Int64,
        _ connection: PostgresConnection
    ) throws
        -> ModalityWeights
    {
        let model = try ModelRegistry(connection: connection).model(of: version)
        var sums: [String: (Double, Int)] = [:]
        for query in world.heldOutQueries {
            let concept = world.concepts[query.concept]
            let images = query.candidates.filter { $0.label != .bad }.map { image -> ImageFeatures in
                let simulated = world.images[image.image]
                return ImageFeatures(
                    regions: simulated.regions,
                    regionCount: world.configuration.regions,
                    keywords: model.keywordInputs(simulated.keywords)
                )
            }
            let mean =
                model.score(query: query.text, images: images).reduce(0.0) { $0 + Double($1.visualWeight) }
                / Double(max(1, images.count))
            let group = concept.shifts ? "shifted" : concept.intent.rawValue
            sums[group, default: (0, 0)].0 += mean
            sums[group, default: (0, 0)].1 += 1
            if concept.shifts {
                sums["visual", default: (0, 0)].0 += mean
                sums["visual", default: (0, 0)].1 += 1
            }
        }
        func average(_ key: String) -> Double { sums[key].map { $0.0 / Double(max(1, $0.1)) } ?? 0 }
        return ModalityWeights(
            version: version,
            visualIntent: average("visual"),
            textualIntent: average("textual"),
            shiftedConcepts: average("shifted")
        )
    }
}
