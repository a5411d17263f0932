import Catalog
import Evaluation
import Foundation
import Logging
import Model
import Postgres
import Registry

/// Where a training run is, for progress bars and logs.
public struct LearnerProgress: Sendable {
    /// What is being trained: `amc`, `image_only`, `keyword_only` (bootstrap) or `finetune`.
    public var phase: String
    /// One-based epoch and the number of epochs.
    public var epoch: Int
    public var epochs: Int
    /// Examples done in this epoch, and in the epoch in total.
    public var examplesDone: Int
    public var examplesInEpoch: Int
    /// Mean loss per example so far in this epoch.
    public var meanLoss: Double
}

/// What one learner cycle did.
public enum LearnerOutcome: Sendable {
    /// A version was published (and activated when configured).
    case published(version: Int64, activated: Bool, gate: GateReport)
    /// The candidate failed the quality gate; nothing was published. `watermark` is the snapshot its data was
    /// read in (a retry is pointless until pairs change after it).
    case refused(gate: GateReport, watermark: String)
    /// Too few training pairs clicked since the active version's watermark.
    case noNewPairs(changedPairs: Int)
    /// Under `learn.promotion = interleaving`: a version passed the gate and was published without being activated;
    /// `experiment` interleaves it with the active version until the learner judges it.
    case onTrial(version: Int64, experiment: Int64, gate: GateReport)
    /// Under `learn.promotion = interleaving`: an interleaving experiment was running, so the cycle judged it (and
    /// promoted or rejected its candidate, or left it running) instead of training.
    case interleaving(InterleavingDecision)
}

/// The learning half of amc-stream: reads relevance pairs and the catalog, trains (everything, or only the MTN
/// on the recent evidence of the queries clicked since the active version), judges the candidate on held-out queries, and publishes and
/// activates it only when it passes the gate.
///
/// All database work goes through one connection, which must hold the learner leadership lock
/// (``LearnerLeadership``) when a version is published; the check happens inside the publishing transaction.
public struct Learner: Sendable {
    let configuration: LearnerConfiguration
    let connection: PostgresConnection
    let worker: String
    let logger: Logger
    private let cache: LearnerCache

    /// - Parameters:
    ///   - configuration: Training, held-out and gate settings.
    ///   - connection: The learner's session (the one holding leadership).
    ///   - worker: Who this learner is (host and pid), recorded as `created_by` and in `learner_runs`.
    ///   - logger: Receives progress and decisions.
    ///   - cache: What fine-tuning cycles keep for the next (catalog features, gate encodings, Adam's moments);
    ///     pass the same one to every learner of a process. Default: a new, empty one.
    public init(
        configuration: LearnerConfiguration,
        connection: PostgresConnection,
        worker: String,
        logger: Logger,
        cache: LearnerCache = LearnerCache()
    ) {
        self.configuration = configuration
        self.connection = connection
        self.worker = worker
        self.logger = logger
        self.cache = cache
    }

    // MARK: - Cycles

    /// Trains every parameter from fresh weights on all pairs so far (plus the single-modality baselines when
    /// configured), then gates against the active version, if any.
    /// - Parameters:
    ///   - progress: Called between minibatches.
    ///   - shouldStop: Checked between minibatches; returning true abandons the run (nothing is published).
    ///
    /// The architecture trained is ``LearnerConfiguration/architecture``, with its own settings
    /// (``LearnerConfiguration/architectures``) over the shared ones.
    public func bootstrap(
        progress: (LearnerProgress) -> Void = { _ in },
        shouldStop: () -> Bool = { false }
    ) throws -> LearnerOutcome {
        try training(configuration.architecture).bootstrapArchitecture(progress: progress, shouldStop: shouldStop)
    }

    /// This learner with the settings of `architecture` applied (``LearnerConfiguration/applying(architecture:)``).
    private func training(_ architecture: String) -> Learner {
        Learner(
            configuration: configuration.applying(architecture: architecture),
            connection: connection,
            worker: worker,
            logger: logger,
            cache: cache
        )
    }

    private func bootstrapArchitecture(
        progress: (LearnerProgress) -> Void,
        shouldStop: () -> Bool
    ) throws -> LearnerOutcome {
        let started = Date()
        let (table, dimension) = try loadCatalog()
        let snapshot = try PairStore(connection: connection).readAll()
        let split = Split(snapshot.pairs, configuration: configuration)
        guard !split.training.isEmpty else {
            throw LearnerError("no relevance pairs to train on yet: ingest clicks first (amc ingest)")
        }
        let gateQueries = gateSlice(split.heldOut, grade: \.grade, table: table)
            .filter(RecentHeldOutQueries.hasRelevantImage)
        let scorer = CandidateScorer(table: table)
        let architecture = configuration.architecture
        let initial = try ModelArchitectures.model(
            from: ModelArchitectures.initialParameters(
                architecture: architecture,
                seed: configuration.seed,
                hyperParameters: configuration.hyperParameters(of: architecture, regionDimension: dimension)
            )
        )
        // The baselines are AMC's single-modality modes, from AMC's initial weights for the same seed (for an AMC
        // bootstrap, the model's own): same data, order and budget.
        let baselineStart = AMCWeights(
            configuration: ModelConfiguration(
                hyperParameters: configuration.hyperParameters(of: AMCModel.architecture, regionDimension: dimension)
            ),
            seed: configuration.seed
        )
        func trainFresh(_ model: any ScoringModel, phase: String) throws -> (any ScoringModel, TrainingReport) {
            let (trainer, report) = try train(
                model,
                scope: .all,
                epochs: configuration.bootstrapEpochs,
                learningRate: configuration.bootstrapLearningRate,
                pairs: split.training,
                context: split.training,
                grade: \.grade,
                table: table,
                phase: phase,
                progress: progress,
                shouldStop: shouldStop
            )
            return (trainer.scoringModel, report)
        }
        let (trained, report) = try trainFresh(initial, phase: architecture)
        var baselines: [ModalityMode: (parameters: ModelParameters, metrics: RankingMetrics)] = [:]
        if configuration.trainBaselines {
            for mode in [ModalityMode.imageOnly, .keywordOnly] {
                let (baseline, _) = try trainFresh(AMCModel(weights: baselineStart, mode: mode), phase: mode.rawValue)
                baselines[mode] = (baseline.parameters, scorer.evaluate(baseline, on: gateQueries))
            }
        }
        let registry = ModelRegistry(connection: connection)
        let gate = try judge(
            trained,
            against: try registry.activeVersion(),
            queries: GateQueries(queries: gateQueries, fromReference: gateQueries.count),
            scorer: scorer
        )
        return try conclude(
            ModelRegistry.NewVersion(
                kind: .bootstrap,
                parent: nil,
                parameters: trained.parameters,
                watermark: snapshot.watermark,
                trainingWindow: window(
                    split,
                    training: split.training,
                    table: table,
                    since: nil,
                    until: snapshot.watermark
                ),
                hyperparameters: hyperparameters(
                    .all,
                    architecture: architecture,
                    ModelConfiguration(hyperParameters: trained.parameters.hyperParameters)
                ),
                metrics: VersionMetrics(gate: gate, training: report),
                baselines: baselines,
                createdBy: worker
            ),
            started: started
        )
    }

    /// Whether no version was ever published: a following learner then bootstraps instead of fine-tuning.
    public func needsBootstrap() throws -> Bool {
        try !ModelRegistry(connection: connection).hasVersions()
    }

    /// Fine-tunes only the online part of the active version (AMC: the MTN) on the recent evidence of the queries
    /// clicked since its watermark (Docs/learning.md, "Recent evidence"), then gates against it. The active version's architecture's own settings
    /// (``LearnerConfiguration/architectures``) apply over the shared ones.
    ///
    /// Under `learn.promotion = interleaving`, while an interleaving experiment runs the cycle trains nothing: it
    /// judges the experiment instead (``LearnerOutcome/interleaving(_:)``, Docs/learning.md).
    /// - Parameters:
    ///   - refusedWatermark: The watermark of a candidate the gate refused; when no pair changed after it, the
    ///     cycle returns ``LearnerOutcome/noNewPairs(changedPairs:)`` instead of training on the same data again.
    ///   - progress: Called between minibatches.
    ///   - shouldStop: Checked between minibatches; returning true abandons the run (nothing is published).
    public func fineTune(
        unlessNothingChangedSince refusedWatermark: String? = nil,
        progress: (LearnerProgress) -> Void = { _ in },
        shouldStop: () -> Bool = { false }
    ) throws -> LearnerOutcome {
        let started = Date()
        if configuration.promotion == .interleaving,
            let running = try ExperimentStore(connection: connection).running().interleave
        {
            return .interleaving(try judge(running, started: started))
        }
        if let refusedWatermark, try !PairStore(connection: connection).hasChanges(since: refusedWatermark) {
            var reads = CycleReads()
            reads.statements = 1
            cache.record(reads)
            return .noNewPairs(changedPairs: 0)
        }
        let registry = ModelRegistry(connection: connection)
        guard let active = try registry.activeVersion(), let parent = try registry.version(active) else {
            throw LearnerError("no active model version: bootstrap one first (amc learn --bootstrap)")
        }
        return try training(parent.architecture).fineTune(
            parent,
            started: started,
            progress: progress,
            shouldStop: shouldStop
        )
    }

    private func fineTune(
        _ parent: ModelVersion,
        started: Date,
        progress: (LearnerProgress) -> Void,
        shouldStop: () -> Bool
    ) throws -> LearnerOutcome {
        var reads = CycleReads()
        defer {
            cache.record(reads)
            logger.debug("Fine-tuning cycle read", metadata: ["reads": "\(reads)"])
        }
        let active = parent.version
        // The trainer that produced the active version, when this learner published it: its model is that version's
        // (no chain of parts to read back to the bootstrap), and its Adam moments carry on.
        let settings = TrainerSettings(learningRate: configuration.fineTuneLearningRate, scope: .onlinePart)
        let carried = cache.trainer(continuing: active, settings: settings)
        let parentModel =
            try carried?.scoringModel
            ?? ModelArchitectures.model(from: ModelRegistry(connection: connection).parameters(of: active))
        // The catalog's keys (features are read below, for the images this cycle uses), hashed as the version reads
        // them.
        let catalog = CatalogStore(connection: connection)
        var (table, dimension) = try cache.catalog(hashBuckets: parentModel.hashBuckets, store: catalog, reads: &reads)
        guard parentModel.regionDimension == dimension else {
            throw LearnerError(
                "active version \(active) expects regions of dimension \(parentModel.regionDimension) "
                    + "but the catalog's are \(dimension): bootstrap a new version (amc learn --bootstrap)"
            )
        }
        // Only the queries with new clicks since the watermark, every pair of those queries, and their evidence since
        // the horizon.
        let pairStore = PairStore(connection: connection)
        let passes = cache.fineTunePasses(epochs: configuration.fineTuneEpochs, horizon: configuration.evidenceHorizon)
        // After the gate refused a candidate of this version, the next one's window starts where the refused one's
        // ended, as after a published one: the refused window does not stay open to be trained on again and again,
        // ever longer, from the same parent. Its clicks remain evidence within the horizon.
        let since = cache.refusedWatermark(of: active) ?? parent.watermark
        let (snapshot, eventRows) = try pairStore.readWindow(
            changedSince: since,
            evidenceSince: cache.evidenceHorizon(configuration.evidenceHorizon)
        )
        cache.keepWatermark(snapshot.watermark, for: configuration.evidenceHorizon)
        reads.statements += 3
        reads.eventRows += eventRows
        reads.pairRows += snapshot.pairs.count
        let split = Split(snapshot.pairs, configuration: configuration)
        // The positives: the pairs the window's queries' recent evidence grades at least 1 (the window's clicks and
        // the horizon's still recent ones), with the pairs users examined lately as their in-query negatives. A
        // cycle needs pairs clicked in its window among them.
        let (positives, examined) = TrainingData.fineTuning(split.training)
        let newPairs = positives.count { $0.windowClicks > 0 }
        guard newPairs >= max(1, configuration.minNewPairs) else {
            logger.debug("No new pairs to learn from", metadata: ["changed": "\(newPairs)"])
            return .noNewPairs(changedPairs: newPairs)
        }
        // Judge on the freshest evidence, enough of it: held-out queries graded by the clicks in the same window
        // (what users do now, including images they stopped clicking), topped up to learn.gate.min-queries with
        // the most recent held-out queries of earlier windows; or, while no window had any, the fixed held-out
        // reference sample by its totals.
        let composed = cache.gateQueries(
            window: gateSlice(split.heldOut, grade: \.recentGrade, onlyExamined: true, table: table),
            minimum: configuration.minGateQueries,
            percent: configuration.holdoutPercent
        )
        var gateQueries = GateQueries(
            queries: composed.queries,
            fromWindow: composed.fromWindow,
            fromEarlier: composed.fromEarlier
        )
        if gateQueries.queries.isEmpty {
            let reference = try cache.heldOutReference(
                percent: configuration.holdoutPercent,
                size: configuration.maxGateQueries,
                store: pairStore,
                reads: &reads
            )
            let referencePairs = try pairStore.pairs(ofQueries: reference)
            reads.statements += 1
            reads.pairRows += referencePairs.count
            let judged = gateSlice(referencePairs, grade: \.grade, table: table)
                .filter(RecentHeldOutQueries.hasRelevantImage)
            gateQueries = GateQueries(queries: judged, fromReference: judged.count)
        }
        // The features this cycle uses: every epoch's positives and negatives, and the gate's candidates.
        var needed = Set<Int>()
        for epoch in 0..<passes {
            for example in TrainingData.plan(
                positives,
                context: examined,
                grade: \.recentGrade,
                table: table,
                negatives: configuration.negatives,
                hardNegatives: configuration.inQueryNegatives,
                seed: configuration.seed,
                epoch: epoch
            ) {
                needed.insert(example.positive)
                needed.formUnion(example.negatives)
            }
        }
        for query in gateQueries.queries { needed.formUnion(query.images.compactMap(table.position(of:))) }
        table = try cache.loading(needed, into: table, store: catalog, reads: &reads)

        if carried != nil {
            logger.debug("Continuing the previous fine-tune's Adam moments", metadata: ["version": "\(active)"])
        }
        let (trainer, report) = try train(
            parentModel,
            continuing: carried,
            scope: .onlinePart,
            epochs: passes,
            learningRate: configuration.fineTuneLearningRate,
            pairs: positives,
            context: examined,
            grade: \.recentGrade,
            table: table,
            phase: "finetune",
            progress: progress,
            shouldStop: shouldStop
        )
        let trained = trainer.scoringModel
        let gate = try judge(
            trained,
            against: active,
            loaded: parentModel,
            queries: gateQueries,
            scorer: CandidateScorer(table: table, encodings: cache.encodings)
        )
        let outcome = try conclude(
            ModelRegistry.NewVersion(
                kind: .finetune,
                parent: active,
                parameters: trained.parameters,
                watermark: snapshot.watermark,
                trainingWindow: window(
                    split,
                    training: positives,
                    table: table,
                    since: since,
                    until: snapshot.watermark
                ),
                hyperparameters: hyperparameters(
                    .onlinePart,
                    architecture: parentModel.architecture,
                    ModelConfiguration(hyperParameters: parentModel.parameters.hyperParameters),
                    epochs: passes
                ),
                metrics: VersionMetrics(gate: gate, training: report),
                createdBy: worker
            ),
            started: started
        )
        switch outcome {
        case .published(let version, _, _), .onTrial(let version, _, _):
            cache.carry(trainer, settings: settings, as: version)
        default:
            break
        }
        return outcome
    }

    // MARK: - Steps

    private func gateSlice(
        _ heldOut: [RelevancePair],
        grade: KeyPath<RelevancePair, Int>,
        onlyExamined: Bool = false,
        table: ImageFeatureTable
    ) -> [JudgedQuery] {
        TrainingData.gateQueries(
            heldOut,
            grade: grade,
            onlyExamined: onlyExamined,
            table: table,
            candidates: configuration.gateCandidates,
            maxQueries: configuration.maxGateQueries
        )
    }

    private func loadCatalog(hashBuckets: Int? = nil) throws -> (ImageFeatureTable, Int) {
        let catalog = CatalogStore(connection: connection)
        guard let dimension = try catalog.regionDimension() else {
            throw LearnerError("the image catalog is empty: import it first (amc catalog import FILE)")
        }
        return (
            ImageFeatureTable(
                images: try catalog.allImages(),
                hashBuckets: hashBuckets ?? configuration.model.hashBuckets
            ),
            dimension
        )
    }

    /// Trains `model` (or continues `carried`, a trainer of the same model whose Adam moments carry on).
    private func train(
        _ model: any ScoringModel,
        continuing carried: (any ScoringModelTrainer)? = nil,
        scope: ParameterScope,
        epochs: Int,
        learningRate: Float,
        pairs: [RelevancePair],
        context: [RelevancePair],
        grade: KeyPath<RelevancePair, Int>,
        table: ImageFeatureTable,
        phase: String,
        progress: (LearnerProgress) -> Void,
        shouldStop: () -> Bool
    ) throws -> (any ScoringModelTrainer, TrainingReport) {
        let clock = ContinuousClock()
        let started = clock.now
        // The auxiliary losses apply to a bootstrap only, for the architectures that have them (AMC's attention
        // model: single-modality losses; AMS: per-scale hinges); the others ignore the weight.
        var trainer =
            carried
            ?? model.makeTrainer(
                TrainerSettings(
                    learningRate: learningRate,
                    scope: scope,
                    auxiliaryModalityWeight: scope == .all ? configuration.auxiliaryModalityWeight : 0
                )
            )
        var queryInputs = QueryInputs(buckets: model.hashBuckets)
        var firstLoss = 0.0
        var lastLoss = 0.0
        var examplesSeen = 0
        let batchSize = max(1, configuration.batchSize)
        // A fine-tune of a part that keeps image encodings, by a trainer that reads them, gets the images'
        // encodings (kept across cycles with the gate's) instead of encoding every example's images at every step.
        let keepsEncodings =
            scope == .onlinePart && type(of: model).onlinePartKeepsImageEncodings && trainer.readsExampleEncodings
        for epoch in 0..<max(1, epochs) {
            let examples = TrainingData.examples(
                pairs,
                context: context,
                grade: grade,
                table: table,
                queryInputs: &queryInputs,
                negatives: configuration.negatives,
                hardNegatives: configuration.inQueryNegatives,
                seed: configuration.seed,
                epoch: epoch,
                encodings: keepsEncodings ? { cache.encodings.encodings(of: $0, by: model, table: table) } : nil
            )
            var total = 0.0
            var start = 0
            while start < examples.count {
                if shouldStop() { throw LearnerError("stopped before training finished; nothing was published") }
                let end = min(start + batchSize, examples.count)
                total += Double(trainer.step(examples[start..<end]))
                start = end
                progress(
                    LearnerProgress(
                        phase: phase,
                        epoch: epoch + 1,
                        epochs: epochs,
                        examplesDone: end,
                        examplesInEpoch: examples.count,
                        meanLoss: total / Double(end)
                    )
                )
            }
            let mean = examples.isEmpty ? 0 : total / Double(examples.count)
            if epoch == 0 { firstLoss = mean }
            lastLoss = mean
            examplesSeen += examples.count
            logger.info(
                "Epoch finished",
                metadata: ["phase": "\(phase)", "epoch": "\(epoch + 1)/\(epochs)", "mean_loss": "\(mean)"]
            )
        }
        let seconds = (clock.now - started).secondsValue
        return (
            trainer,
            TrainingReport(firstEpochLoss: firstLoss, lastEpochLoss: lastLoss, examples: examplesSeen, seconds: seconds)
        )
    }

    /// The quality gate: finite weights, and NDCG@5 on the held-out queries no worse than the version it would
    /// replace by more than the tolerance, unless the per-query sign test finds the drop to be noise (``GateRule``).
    /// - Parameter loaded: The parent's weights when the caller has them already (else they are loaded).
    func judge(
        _ candidate: any ScoringModel,
        against parentVersion: Int64?,
        loaded: (any ScoringModel)? = nil,
        queries: GateQueries,
        scorer: CandidateScorer
    ) throws -> GateReport {
        let tolerance = configuration.gateTolerance
        let finite = candidate.isFinite
        guard finite else {
            return GateReport(
                passed: false,
                reason: "the candidate has non-finite weights",
                candidate: nil,
                parent: nil,
                parentVersion: parentVersion,
                tolerance: tolerance,
                finiteWeights: false
            )
        }
        let (candidateMetrics, candidateEach) = scorer.evaluateEach(candidate, on: queries.queries)
        var parentEvaluation: (metrics: RankingMetrics, ndcg5: [Double])?
        if let parentVersion {
            let parent =
                try loaded
                ?? ModelArchitectures.model(
                    from: ModelRegistry(connection: connection).parameters(of: parentVersion)
                )
            // Any architecture is comparable on the same held-out candidates, if it reads the same features.
            if parent.hashBuckets == candidate.hashBuckets, parent.regionDimension == candidate.regionDimension {
                parentEvaluation = scorer.evaluateEach(parent, on: queries.queries)
            }
        }
        let passed: Bool
        let reason: String
        var comparison: GateComparison?
        if candidateMetrics.queries == 0 {
            passed = true
            reason = "no held-out query with a known image yet: only finiteness was checked"
        } else if let parentEvaluation, parentEvaluation.metrics.queries > 0 {
            let decision = GateRule(tolerance: tolerance, significance: configuration.gateSignificance)
                .decide(candidate: candidateEach, parent: parentEvaluation.ndcg5)
            passed = decision.passed
            comparison = GateComparison(
                windowQueries: queries.fromWindow,
                earlierQueries: queries.fromEarlier,
                referenceQueries: queries.fromReference,
                better: decision.better,
                worse: decision.worse,
                same: decision.same,
                pValue: decision.pValue,
                significance: configuration.gateSignificance
            )
            reason =
                "held-out NDCG@5 \(format(candidateMetrics.ndcg5)) vs \(format(parentEvaluation.metrics.ndcg5)) for "
                + "version \(parentVersion ?? 0) (tolerance \(format(tolerance))) on \(candidateMetrics.queries) "
                + "queries (\(queries.sources)): \(decision.verdict)"
        } else {
            passed = true
            reason =
                "held-out NDCG@5 \(format(candidateMetrics.ndcg5)) on \(candidateMetrics.queries) queries "
                + "(\(queries.sources)); no comparable active version"
        }
        return GateReport(
            passed: passed,
            reason: reason,
            candidate: candidateMetrics,
            parent: parentEvaluation?.metrics,
            parentVersion: parentVersion,
            tolerance: tolerance,
            finiteWeights: true,
            comparison: comparison
        )
    }

    /// Publishes (and activates) a candidate that passed the gate, or records the refusal — in one transaction,
    /// only while this session still holds leadership.
    private func conclude(_ candidate: ModelRegistry.NewVersion, started: Date) throws -> LearnerOutcome {
        let gate = candidate.metrics.gate
        let outcome = try connection.transaction { connection -> LearnerOutcome in
            guard try LearnerLeadership(connection: connection).isHeld() else {
                throw LearnerError("this learner is not the leader (lock lost or never taken); nothing was published")
            }
            let registry = ModelRegistry(connection: connection)
            var version: Int64?
            var activated = false
            var experiment: OnlineExperiment?
            if gate.passed {
                version = try registry.insert(candidate)
                if configuration.activate, let version {
                    // Under interleaving a candidate replaces an active version only after winning online; the
                    // first version has nothing to be compared with and is activated by the gate alone.
                    if configuration.promotion == .interleaving, let against = try registry.activeVersion() {
                        experiment = try ExperimentStore(connection: connection).start(
                            kind: .interleave,
                            candidate: version,
                            share: configuration.interleaving.share,
                            actor: Learner.actor,
                            reason:
                                "version \(version) passed the quality gate against version \(against): \(gate.reason)"
                        ).experiment
                    } else {
                        try registry.activate(
                            version,
                            actor: Learner.actor,
                            reason: "passed the quality gate: \(gate.reason)"
                        )
                        activated = true
                    }
                }
            }
            try LearnerRunStore(connection: connection).record(
                kind: candidate.kind,
                parent: candidate.parent,
                published: version,
                gate: gate,
                trainingWindow: candidate.trainingWindow,
                metrics: candidate.metrics,
                experiment: experiment?.id,
                worker: worker,
                started: started
            )
            if let version, let experiment {
                return .onTrial(version: version, experiment: experiment.id, gate: gate)
            }
            if let version { return .published(version: version, activated: activated, gate: gate) }
            return .refused(gate: gate, watermark: candidate.watermark)
        }
        LearnerMetrics().record(outcome: outcome, training: candidate.metrics.training, started: started)
        if case .refused(_, let watermark) = outcome {
            cache.noteRefusal(of: candidate.parent, watermark: watermark)
        } else {
            cache.clearRefusal()
        }
        switch outcome {
        case .published(let version, let activated, _):
            logger.notice(
                "Published model version",
                metadata: ["version": "\(version)", "activated": "\(activated)", "gate": "\(gate.reason)"]
            )
        case .refused:
            logger.warning(
                "The quality gate refused the candidate; nothing published",
                metadata: ["gate": "\(gate.reason)"]
            )
        case .onTrial(let version, let experiment, _):
            logger.notice(
                "Published model version for an interleaving experiment",
                metadata: ["version": "\(version)", "experiment": "\(experiment)", "gate": "\(gate.reason)"]
            )
        case .noNewPairs, .interleaving:
            break
        }
        return outcome
    }

    // MARK: - Records

    private func window(
        _ split: Split,
        training: [RelevancePair],
        table: ImageFeatureTable,
        since: String?,
        until: String
    ) -> TrainingWindow {
        var clicks: Int64 = 0
        var queries = Set<String>()
        var first: Date?
        var last: Date?
        for pair in training {
            clicks += pair.windowClicks
            queries.insert(pair.query)
            first = min(first ?? pair.firstSeen, pair.firstSeen)
            last = max(last ?? pair.lastSeen, pair.lastSeen)
        }
        return TrainingWindow(
            incremental: since != nil,
            sinceWatermark: since,
            untilWatermark: until,
            pairs: training.count,
            queries: queries.count,
            clicks: clicks,
            heldOutPairs: split.heldOut.count,
            unknownImagePairs: training.count(where: { table.position(of: $0.image) == nil }),
            firstSeen: first.map { $0.ISO8601Format() },
            lastSeen: last.map { $0.ISO8601Format() }
        )
    }

    /// The hyper-parameters a version records; `epochs`: the passes a fine-tune made (its cycle's, not the setting).
    private func hyperparameters(
        _ scope: ParameterScope,
        architecture: String,
        _ model: ModelConfiguration,
        epochs: Int? = nil
    ) -> Hyperparameters {
        let bootstrap = scope == .all
        return Hyperparameters(
            // AMC's online part keeps the name it was always recorded under.
            scope: bootstrap ? "all" : architecture == AMCModel.architecture ? "modality_attention" : scope.rawValue,
            epochs: epochs ?? (bootstrap ? configuration.bootstrapEpochs : configuration.fineTuneEpochs),
            batchSize: configuration.batchSize,
            negatives: configuration.negatives,
            heldOutPercent: configuration.holdoutPercent,
            inQueryNegatives: configuration.inQueryNegatives,
            auxiliaryModalityWeight: bootstrap ? configuration.auxiliaryModalityWeight : 0,
            learningRate: bootstrap ? configuration.bootstrapLearningRate : configuration.fineTuneLearningRate,
            margin: model.margin,
            seed: configuration.seed,
            hashBuckets: model.hashBuckets,
            embeddingDimension: model.embeddingDimension,
            attentionDimension: model.attentionDimension,
            modalityDimension: model.modalityDimension,
            regionDimension: model.regionDimension
        )
    }

    private func format(_ value: Double) -> String {
        String(format: "%.4f", value)
    }
}

/// The held-out queries a gate judges, each with a relevant image, and where they came from.
struct GateQueries {
    var queries: [JudgedQuery]
    /// Graded by the cycle's window, by earlier windows (``RecentHeldOutQueries``), or by their totals (the reference
    /// sample, or a bootstrap's held-out slice).
    var fromWindow = 0
    var fromEarlier = 0
    var fromReference = 0

    /// Where they came from, for the gate's reason.
    var sources: String {
        fromReference > 0
            ? "\(fromReference) by their totals"
            : "\(fromWindow) from this window, \(fromEarlier) from earlier windows"
    }
}

/// Pairs split into training and held-out queries.
struct Split {
    var training: [RelevancePair] = []
    var heldOut: [RelevancePair] = []

    init(_ pairs: [RelevancePair], configuration: LearnerConfiguration) {
        for pair in pairs {
            if TrainingData.isHeldOut(pair.query, percent: configuration.holdoutPercent) {
                heldOut.append(pair)
            } else {
                training.append(pair)
            }
        }
    }
}

extension Duration {
    /// The duration in seconds.
    var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
