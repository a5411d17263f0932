import Catalog
import Foundation
import Logging
import Model
import Postgres
import Prometheus
import Registry
import ServiceLifecycle
import Synchronization

/// Keeps a ``ModelHolder`` on the active model version and the current catalog (design §5, hot swap).
///
/// A `Service`. Its loop runs on a dedicated thread (libpq blocks) with its own PostgreSQL connection: it
/// `LISTEN`s on ``ModelRegistry/activationChannel``, re-reads the latest activation every
/// ``ServingConfiguration/recheckInterval`` in case a notification was missed, and checks the catalog's revision
/// every ``ServingConfiguration/catalogRefreshInterval``. A new activation is loaded (sha256 and format checked by
/// ``ModelRegistry/parameters(of:cached:)``; a fine-tune of the served or the retained model reads only its online
/// part and applies it to that model), checked against the catalog's region dimension, encoded (the catalog streamed
/// from the database page by page: no raw features are kept between encodings; under
/// ``ServingConfiguration/catalogMemory`` only what fits, the rest read on a request's miss) and warmed, then
/// swapped in. A version that fails is refused once per activation: logged at error, counted, and the previous
/// snapshot keeps serving. The model the last swap replaced stays in memory (its weights, not its encodings), so
/// re-activating it — the usual rollback — reads no weights from the database, only its row's sha256, which must
/// match the one it was verified against. A lost connection is reopened with backoff (100 ms doubling to
/// ``ServingConfiguration/maxReconnectDelay``); serving continues meanwhile.
///
/// It follows the running online experiments the same way (`LISTEN` on ``ExperimentStore/changeChannel``, re-read
/// with the activation): each running experiment's candidate version is loaded, checked and encoded like a hot swap
/// (reusing the served version's encodings when its image encoders are identical, as a fine-tune's are) and
/// published in the holder (``ModelHolder/experiment(_:)``); a stopped experiment's candidate is dropped. A candidate
/// that fails to load is refused once per experiment (logged, counted) and the experiment is not followed.
public struct ModelWatcher: Service {
    private let loop: WatcherLoop

    /// - Parameters:
    ///   - databaseURL: PostgreSQL URL or conninfo of a migrated database.
    ///   - configuration: Re-check and refresh intervals.
    ///   - holder: Receives every swapped-in snapshot.
    ///   - metrics: Swaps, refusals, catalog size, reconnects.
    ///   - logger: Receives loads (info), refusals and connection failures (error/warning).
    public init(
        databaseURL: String,
        configuration: ServingConfiguration,
        holder: ModelHolder,
        metrics: ServingMetrics,
        logger: Logger
    ) {
        loop = WatcherLoop(
            databaseURL: databaseURL,
            configuration: configuration,
            holder: holder,
            metrics: metrics,
            logger: logger
        )
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await loop.runOnDedicatedThread()
            } onCancel: {
                loop.requestStop()
            }
        } onGracefulShutdown: {
            loop.requestStop()
        }
    }
}

/// Why a version was refused (shape or weights unusable).
struct ModelRefusal: Error, CustomStringConvertible {
    var description: String
}

/// The watcher's loop and its state.
///
/// `@unchecked Sendable`: the mutable state (connection, catalog, deadlines) is only touched by the one thread
/// running ``run()``; the stop flag, the only state other threads touch, is a `Mutex`.
private final class WatcherLoop: @unchecked Sendable {
    let databaseURL: DatabaseURL
    let configuration: ServingConfiguration
    let holder: ModelHolder
    let metrics: ServingMetrics
    let logger: Logger
    private let stopRequested = Mutex(false)
    /// Reads the images a request misses when the catalog is under a memory budget
    /// (``ServingConfiguration/catalogMemory``).
    private let catalogReader: CatalogReader?

    private let clock = ContinuousClock()
    private var connection: PostgresConnection?
    /// The catalog revision last acted on (loaded for the served version, or noted before any version): the raw
    /// features are not kept; an encoding streams them from the database page by page.
    private var catalogRevision: String?
    /// The latest activation acted on (loaded or refused): not retried until another activation appears.
    private var handledActivation: Int64?
    /// The model the last swap replaced, with the sha256 it was verified against: a rollback target ready to serve.
    private var retained: (version: Int64, sha256: String, model: any ScoringModel)?
    /// The model the last fine-tune was built on, by its blob's sha256: the next fine-tune of the same parent (its
    /// siblings, or its parent re-trained) is built on it too, even once neither the served nor the retained model
    /// is that parent.
    private var fineTuneBase: (sha256: String, model: any ScoringModel)?
    private var nextRecheck: ContinuousClock.Instant
    private var nextCatalogCheck: ContinuousClock.Instant
    private var reconnectDelay = Duration.milliseconds(100)
    /// Whether a connection was ever opened: a failure before that is "could not connect", not "lost".
    private var everConnected = false
    /// Experiments whose candidate was refused: not retried (an experiment's candidate never changes).
    private var refusedExperiments: Set<Int64> = []
    /// When the running experiments are next read (at once after a notification, a swap or a catalog change).
    private var nextExperimentCheck: ContinuousClock.Instant

    init(
        databaseURL: String,
        configuration: ServingConfiguration,
        holder: ModelHolder,
        metrics: ServingMetrics,
        logger: Logger
    ) {
        self.databaseURL = DatabaseURL(databaseURL)
        self.configuration = configuration
        self.holder = holder
        self.metrics = metrics
        self.logger = logger
        let url = DatabaseURL(databaseURL)
        catalogReader = configuration.catalogMemory.map { _ in CatalogReader(url: url, logger: logger) }
        metrics.catalogMemoryBudget.set(Double(configuration.catalogMemory ?? 0))
        nextRecheck = clock.now
        nextCatalogCheck = clock.now
        nextExperimentCheck = clock.now
    }

    func requestStop() {
        stopRequested.withLock { $0 = true }
    }

    private var isStopping: Bool { stopRequested.withLock { $0 } }

    /// Runs the loop on a new thread and resumes when it ends.
    func runOnDedicatedThread() async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                self.run()
                continuation.resume()
            }
            thread.name = "amc-serve-watcher"
            thread.start()
        }
    }

    // MARK: - The loop

    private func run() {
        defer { connection?.close() }
        while !isStopping {
            do {
                let connection = try connected()
                if catalogRevision == nil || clock.now >= nextCatalogCheck {
                    try refreshCatalog(connection)
                    nextCatalogCheck = clock.now + configuration.catalogRefreshInterval
                }
                if clock.now >= nextRecheck {
                    try checkActivation(connection)
                    nextRecheck = clock.now + configuration.recheckInterval
                }
                if clock.now >= nextExperimentCheck {
                    try checkExperiments(connection)
                    nextExperimentCheck = clock.now + configuration.recheckInterval
                }
                // Wake for a notification, the next deadline, or at least every 200 ms to notice a stop request.
                let wake = min(nextRecheck, nextCatalogCheck, nextExperimentCheck, clock.now + .milliseconds(200))
                let notifications = try connection.waitForNotifications(
                    timeout: max(.zero, clock.now.duration(to: wake))
                )
                if notifications.contains(where: { $0.channel == ModelRegistry.activationChannel }) {
                    nextRecheck = clock.now
                }
                if notifications.contains(where: { $0.channel == ExperimentStore.changeChannel }) {
                    nextExperimentCheck = clock.now
                }
                reconnectDelay = .milliseconds(100)
            } catch {
                connectionFailed(error)
            }
        }
    }

    /// The open, listening connection; opens one (and re-checks everything) when there is none.
    private func connected() throws -> PostgresConnection {
        if let connection, connection.isConnected { return connection }
        connection?.close()
        connection = nil
        let opened = try PostgresConnection.connect(databaseURL, logger: logger)
        do {
            try opened.setApplicationName("amc serve")
            try opened.listen(ModelRegistry.activationChannel)
            try opened.listen(ExperimentStore.changeChannel)
        } catch {
            opened.close()
            throw error
        }
        connection = opened
        everConnected = true
        // Notifications sent while disconnected are lost: look at once.
        nextRecheck = clock.now
        nextExperimentCheck = clock.now
        return opened
    }

    private func connectionFailed(_ error: any Error) {
        connection?.close()
        connection = nil
        let metadata: Logger.Metadata = [
            ServingLoggingKeys.reason: "\(error)",
            ServingLoggingKeys.delay: "\(reconnectDelay)",
        ]
        if everConnected {
            metrics.reconnects.increment()
            logger.warning(
                "Scoring worker lost its database connection; serving continues on the loaded model, retrying",
                metadata: metadata
            )
        } else {
            logger.error(
                "Scoring worker could not connect to the database; not ready (no model loaded) until it can, retrying",
                metadata: metadata
            )
        }
        let until = clock.now + reconnectDelay
        while !isStopping, clock.now < until {
            Thread.sleep(forTimeInterval: 0.05)
        }
        reconnectDelay = min(reconnectDelay * 2, configuration.maxReconnectDelay)
    }

    // MARK: - Catalog

    private func refreshCatalog(_ connection: PostgresConnection) throws {
        let store = CatalogStore(connection: connection)
        let revision = try store.revision()
        if revision == catalogRevision { return }
        let first = catalogRevision == nil
        if !first { metrics.catalogReloads.increment() }
        // The experiments' candidates are re-encoded for it too.
        nextExperimentCheck = clock.now
        // Re-encode the served version for the new catalog.
        guard let current = holder.current() else {
            catalogRevision = revision
            metrics.catalogImages.set(Double(try store.count()))
            return
        }
        guard try compatible(current.model, connection) else {
            catalogRevision = revision
            logger.error(
                "Catalog region dimension no longer matches the served model; keeping the previous catalog",
                metadata: [ServingLoggingKeys.version: "\(current.version)"]
            )
            return
        }
        try swapIn(
            version: current.version,
            sha256: current.sha256,
            activatedAt: current.activatedAt,
            model: current.model,
            started: clock.now,
            connection: connection
        )
    }

    /// Whether the stored catalog's region dimension is the model's (an empty catalog fits any model).
    private func compatible(_ model: any ScoringModel, _ connection: PostgresConnection) throws -> Bool {
        try CatalogStore(connection: connection).regionDimension().map { $0 == model.regionDimension } ?? true
    }

    // MARK: - Versions

    private func checkActivation(_ connection: PostgresConnection) throws {
        let registry = ModelRegistry(connection: connection)
        guard let activation = try registry.latestActivation(), activation.id != handledActivation else { return }
        let started = clock.now
        let current = holder.current()
        do {
            if let current, current.version == activation.version {
                // Re-activated (for example a rollback to the version already served): no reload.
                handledActivation = activation.id
                return
            }
            guard let metadata = try registry.version(activation.version) else {
                throw ModelRefusal(description: "model version \(activation.version) does not exist")
            }
            let model: any ScoringModel
            if let retained, retained.version == activation.version, retained.sha256 == metadata.sha256 {
                // Versions are immutable and this one was verified when it was first loaded.
                model = retained.model
            } else {
                model = try load(
                    activation.version,
                    registry: registry,
                    held: [current?.loaded, retained] + holder.experiments().map { Optional($0.candidate.loaded) }
                )
            }
            guard try compatible(model, connection) else {
                let dimension = try CatalogStore(connection: connection).regionDimension() ?? 0
                throw ModelRefusal(
                    description: "model region dimension \(model.regionDimension) does not match "
                        + "the catalog's \(dimension)"
                )
            }
            try swapIn(
                version: activation.version,
                sha256: metadata.sha256,
                activatedAt: activation.activatedAt,
                model: model,
                started: started,
                connection: connection
            )
            handledActivation = activation.id
        } catch let error as PostgresError {
            // The database, not the version, failed: try again after reconnecting.
            throw error
        } catch {
            handledActivation = activation.id
            metrics.refusedLoads.increment()
            logger.error(
                "Refused to load the active model version; the previous one keeps serving",
                metadata: [
                    ServingLoggingKeys.version: "\(activation.version)",
                    ServingLoggingKeys.previousVersion: "\(current.map { String($0.version) } ?? "none")",
                    ServingLoggingKeys.reason: "\(error)",
                ]
            )
        }
    }

    /// Reads a version and builds its model. A fine-tune of a model this worker holds (the served model, the one
    /// the last swap replaced, or the last fine-tune's parent) reads only its own online part, tens of kilobytes,
    /// and applies it to that model (``ScoringModel/applyingPart(_:)``), which was verified against the same sha256
    /// the fine-tune records and checked finite when it was loaded: only the part's tensors are checked here.
    private func load(
        _ version: Int64,
        registry: ModelRegistry,
        held: [(version: Int64, sha256: String, model: any ScoringModel)?]
    ) throws -> any ScoringModel {
        var candidates: [(sha256: String, model: any ScoringModel)] = held.compactMap {
            $0.map { ($0.sha256, $0.model) }
        }
        if let fineTuneBase { candidates.insert(fineTuneBase, at: 0) }
        func heldModel(_ sha256: String) -> (any ScoringModel)? { candidates.first { $0.sha256 == sha256 }?.model }
        let loaded = try registry.model(of: version, held: heldModel)
        guard loaded.isFinite else { throw ModelRefusal(description: "weights are not finite") }
        if let base = loaded.base, let model = heldModel(base) { fineTuneBase = (base, model) }
        return loaded.model
    }

    /// Encodes the catalog for `model`, streaming it from the database (or reuses the served encodings when the
    /// catalog has not changed and its image encoders are identical), warms it, and swaps it in.
    /// - Throws: ``PostgresError``, ``CatalogStoreError`` while reading the catalog (nothing is swapped).
    private func swapIn(
        version: Int64,
        sha256: String,
        activatedAt: Date,
        model: any ScoringModel,
        started: ContinuousClock.Instant,
        connection: PostgresConnection
    ) throws {
        let previous = holder.current()
        let (encoded, reused) = try encodedCatalog(for: model, sharingWith: [previous].compactMap { $0 }, connection)
        catalogRevision = encoded.revision
        metrics.catalogImages.set(Double(encoded.count))
        let served = ServedModel(
            version: version,
            sha256: sha256,
            activatedAt: activatedAt,
            loadedAt: Date(),
            model: model,
            catalog: encoded
        )
        // Warm up: one request's worth of work, so the first real request pays no first-use costs.
        served.warmUp(images: encoded.someKeys(16))
        if let replaced = holder.swap(served), replaced.version != version {
            retained = (replaced.version, replaced.sha256, replaced.model)
        }
        metrics.swaps.increment()
        metrics.modelVersion.set(Double(version))
        // An experiment's candidate may share the new version's encodings, or be the new version.
        nextExperimentCheck = clock.now
        logger.info(
            "Model version swapped in",
            metadata: [
                ServingLoggingKeys.version: "\(version)",
                ServingLoggingKeys.previousVersion: "\(previous.map { String($0.version) } ?? "none")",
                ServingLoggingKeys.images: "\(encoded.count)",
                ServingLoggingKeys.reused: "\(reused)",
                ServingLoggingKeys.duration: "\(started.duration(to: clock.now))",
            ]
        )
    }

    /// The catalog encoded for `model`: the encodings of the first of `snapshots` that `model` can share (same catalog
    /// revision and precision, identical image encoders), or the catalog loaded and encoded anew.
    /// - Returns: The encodings, and whether they were shared.
    private func encodedCatalog(
        for model: any ScoringModel,
        sharingWith snapshots: [ServedModel],
        _ connection: PostgresConnection
    ) throws -> (catalog: EncodedCatalog, reused: Bool) {
        let revision = try CatalogStore(connection: connection).revision()
        if let shared = snapshots.first(where: {
            $0.catalog.revision == revision && $0.catalog.precision == configuration.catalogEncoding
                && $0.model.sharesImageEncodings(with: model)
        }) {
            return (shared.catalog, true)
        }
        let encoded = try EncodedCatalog.load(
            from: connection,
            model: model,
            precision: configuration.catalogEncoding,
            budget: configuration.catalogMemory,
            reader: catalogReader,
            metrics: metrics
        )
        return (encoded, false)
    }

    // MARK: - Experiments

    /// Follows the running experiments: loads the candidate of each new one, re-encodes a followed candidate for a
    /// new catalog, and drops the candidate of each one that stopped.
    private func checkExperiments(_ connection: PostgresConnection) throws {
        let running = try ExperimentStore(connection: connection).running()
        for kind in ExperimentKind.allCases {
            let followed = holder.experiment(kind)
            guard let experiment = running[kind] else {
                if let followed { unfollow(followed) }
                continue
            }
            let revision = catalogRevision ?? ""
            if let followed, followed.experiment.id == experiment.id, followed.candidate.catalog.revision == revision {
                continue
            }
            if refusedExperiments.contains(experiment.id) {
                if let followed { unfollow(followed) }
                continue
            }
            do {
                try follow(experiment, connection: connection)
            } catch let error as PostgresError {
                throw error
            } catch {
                refusedExperiments.insert(experiment.id)
                metrics.experimentRefusals.increment()
                logger.error(
                    "Refused to load an experiment's candidate version; the experiment is not followed",
                    metadata: [
                        ServingLoggingKeys.experiment: "\(experiment.id)",
                        ServingLoggingKeys.version: "\(experiment.candidateVersion)",
                        ServingLoggingKeys.reason: "\(error)",
                    ]
                )
                if let followed { unfollow(followed) }
            }
        }
    }

    /// Loads (or reuses) `experiment`'s candidate, encodes the catalog for it (or shares the served encodings),
    /// warms it and publishes it in the holder.
    private func follow(_ experiment: OnlineExperiment, connection: PostgresConnection) throws {
        let started = clock.now
        let registry = ModelRegistry(connection: connection)
        let version = experiment.candidateVersion
        guard let metadata = try registry.version(version) else {
            throw ModelRefusal(description: "model version \(version) does not exist")
        }
        let current = holder.current()
        let held: [(version: Int64, sha256: String, model: any ScoringModel)?] =
            [current?.loaded, retained] + holder.experiments().map { Optional($0.candidate.loaded) }
        let model: any ScoringModel
        if let same = held.compactMap({ $0 }).first(where: { $0.version == version && $0.sha256 == metadata.sha256 }) {
            // Versions are immutable and this one was verified when it was loaded.
            model = same.model
        } else {
            model = try load(version, registry: registry, held: held)
        }
        guard try compatible(model, connection) else {
            let dimension = try CatalogStore(connection: connection).regionDimension() ?? 0
            throw ModelRefusal(
                description: "model region dimension \(model.regionDimension) does not match the catalog's \(dimension)"
            )
        }
        // Memory: a candidate whose image encoders differ from every held snapshot's is a second encoded catalog.
        let (encoded, reused) = try encodedCatalog(
            for: model,
            sharingWith: [current].compactMap { $0 } + holder.experiments().map(\.candidate),
            connection
        )
        let candidate = ServedModel(
            version: version,
            sha256: metadata.sha256,
            activatedAt: experiment.startedAt,
            loadedAt: Date(),
            model: model,
            catalog: encoded
        )
        candidate.warmUp(images: encoded.someKeys(16))
        holder.setExperiment(experiment.kind, ServedExperiment(experiment: experiment, candidate: candidate))
        metrics.experimentCandidate(experiment.kind, version: version)
        logger.info(
            "Following an online experiment",
            metadata: [
                ServingLoggingKeys.experiment: "\(experiment.id)",
                ServingLoggingKeys.kind: "\(experiment.kind.rawValue)",
                ServingLoggingKeys.version: "\(version)",
                ServingLoggingKeys.images: "\(encoded.count)",
                ServingLoggingKeys.reused: "\(reused)",
                ServingLoggingKeys.duration: "\(started.duration(to: clock.now))",
            ]
        )
    }

    private func unfollow(_ followed: ServedExperiment) {
        holder.setExperiment(followed.experiment.kind, nil)
        metrics.experimentCandidate(followed.experiment.kind, version: nil)
        logger.info(
            "Stopped following an online experiment",
            metadata: [
                ServingLoggingKeys.experiment: "\(followed.experiment.id)",
                ServingLoggingKeys.kind: "\(followed.experiment.kind.rawValue)",
            ]
        )
    }
}
