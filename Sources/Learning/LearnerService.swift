import CoreMetrics
import Foundation
import Logging
import Postgres
import Registry
import ServiceLifecycle
import Synchronization

/// What `amc learn` runs.
public enum LearnerMode: Sendable, Hashable {
    /// One bootstrap, then return.
    case bootstrap
    /// One fine-tuning cycle, then return.
    case once
    /// Fine-tuning cycles until stopped, each woken by ingest's commits (or the poll interval's re-check); a
    /// bootstrap first when `bootstrapFirst`, and whenever no version was ever published (a new deployment needs no
    /// separate bootstrap step).
    case follow(bootstrapFirst: Bool)
}

/// The learner as a ``Service``: takes leadership (waiting while another learner holds it), then runs its mode.
///
/// In `follow` mode a lost database session is not fatal: the service reconnects, waits for leadership again
/// (another learner may have taken over) and carries on; a cycle that fails (say, the catalog is still empty) is
/// logged and retried after the poll interval (or at the next ingest commit). Cycles wake on ingest's commits
/// (`LISTEN` on ``PairStore/changeChannel``, coalesced by ``LearnerConfiguration/minCycleSpacing``), with the poll
/// interval as a fallback re-check. In the one-shot modes errors are thrown.
public final class LearnerService: Service, Sendable {
    private let configuration: LearnerConfiguration
    private let databaseURL: DatabaseURL
    private let mode: LearnerMode
    private let worker: String
    private let logger: Logger
    private let onProgress: @Sendable (LearnerProgress) -> Void
    private let onOutcome: @Sendable (LearnerOutcome) -> Void
    private let stopRequested = Mutex(false)
    /// Cycles started (bootstrap or fine-tuning, whether or not they found anything to learn).
    private let cycles = Mutex(0)
    /// What the learner keeps from cycle to cycle (catalog features, encodings, Adam's moments), across sessions.
    private let cache = LearnerCache()

    /// - Parameters:
    ///   - configuration: Training, held-out and gate settings.
    ///   - databaseURL: PostgreSQL URL or conninfo of a migrated database.
    ///   - mode: Bootstrap, one cycle, or follow.
    ///   - worker: Who this learner is (host and pid); also the session's `application_name`.
    ///   - logger: Receives decisions and errors.
    ///   - onProgress: Called on the training thread between minibatches.
    ///   - onOutcome: Called after every cycle that trained.
    public init(
        configuration: LearnerConfiguration,
        databaseURL: String,
        mode: LearnerMode,
        worker: String,
        logger: Logger,
        onProgress: @escaping @Sendable (LearnerProgress) -> Void = { _ in },
        onOutcome: @escaping @Sendable (LearnerOutcome) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.databaseURL = DatabaseURL(databaseURL)
        self.mode = mode
        self.worker = worker
        self.logger = logger
        self.onProgress = onProgress
        self.onOutcome = onOutcome
    }

    /// Asks the service to stop: between minibatches (abandoning that run) or while waiting.
    public func requestStop() {
        stopRequested.withLock { $0 = true }
    }

    private var isStopping: Bool { stopRequested.withLock { $0 } }

    /// How many cycles this service has started so far, including those that found nothing to learn.
    public var cyclesStarted: Int { cycles.withLock { $0 } }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let thread = Thread { continuation.resume(with: Result { try self.runBlocking() }) }
                    thread.name = "amc-learner"
                    thread.start()
                }
            } onCancel: {
                self.requestStop()
            }
        } onGracefulShutdown: {
            self.requestStop()
        }
    }

    /// Runs the mode on the calling thread (blocking).
    public func runBlocking() throws {
        switch mode {
        case .bootstrap:
            try withLeaderSession { learner, _ in
                cycles.withLock { $0 += 1 }
                onOutcome(try learner.bootstrap(progress: onProgress, shouldStop: stop))
            }
        case .once:
            try withLeaderSession { learner, _ in
                cycles.withLock { $0 += 1 }
                onOutcome(try learner.fineTune(progress: onProgress, shouldStop: stop))
            }
        case .follow(let bootstrapFirst):
            var needsBootstrap = bootstrapFirst
            var refusedWatermark: String?
            while !isStopping {
                do {
                    try withLeaderSession { learner, connection in
                        // Ingest's commits announce themselves here (migration 0009); notifications sent while this
                        // session did not exist are lost, so the first cycle runs at once. Without waking on them
                        // the learner polls: nothing is listened to, and each wait lasts the whole interval.
                        if configuration.wakeOnCommits { try connection.listen(PairStore.changeChannel) }
                        while !isStopping {
                            cycles.withLock { $0 += 1 }
                            do {
                                if try needsBootstrap || learner.needsBootstrap() {
                                    onOutcome(try learner.bootstrap(progress: onProgress, shouldStop: stop))
                                    needsBootstrap = false
                                } else {
                                    let outcome = try learner.fineTune(
                                        unlessNothingChangedSince: refusedWatermark,
                                        progress: onProgress,
                                        shouldStop: stop
                                    )
                                    switch outcome {
                                    case .noNewPairs: break
                                    case .refused(_, let watermark): refusedWatermark = watermark
                                    case .published, .onTrial: refusedWatermark = nil
                                    case .interleaving(let decision):
                                        // After a verdict the next cycle trains on everything since the (possibly
                                        // new) active version's watermark.
                                        if decision.outcome != .undecided { refusedWatermark = nil }
                                    }
                                    if outcome.isReported { onOutcome(outcome) }
                                }
                            } catch let error where error is LearnerError || error is RegistryError {
                                guard !isStopping else { return }
                                logger.error("Learner cycle failed; retrying", metadata: ["error": "\(error)"])
                            }
                            try waitForNextCycle(connection, previousEnded: ContinuousClock.now)
                        }
                    }
                } catch let error as PostgresError {
                    guard !isStopping else { return }
                    logger.error(
                        "Learner lost its database session; reconnecting",
                        metadata: ["error": "\(error)"]
                    )
                    pause(configuration.pollInterval, unless: stop)
                }
            }
        }
    }

    /// Waits until the next `--follow` cycle is due, or a stop is requested.
    ///
    /// A cycle is due `learn.min-cycle-spacing-seconds` after the first notification on ``PairStore/changeChannel``
    /// that arrived since the previous cycle, and no sooner than that spacing after the previous cycle ended:
    /// every notification of a burst of ingest commits within the spacing folds into one cycle. Without any
    /// notification, a cycle is due `learn.interval-seconds` after the previous one ended (the fallback re-check,
    /// should a notification be lost). Notifications still pending when the wait ends are consumed: the cycle that
    /// follows reads everything committed before it starts. With ``LearnerConfiguration/wakeOnCommits`` off the
    /// session listens to nothing, so every wait lasts the interval (polling).
    /// - Parameters:
    ///   - connection: The leader's session, listening on ``PairStore/changeChannel``.
    ///   - previousEnded: When the previous cycle ended.
    /// - Throws: ``PostgresError`` when the session is lost.
    private func waitForNextCycle(_ connection: PostgresConnection, previousEnded: ContinuousClock.Instant) throws {
        let clock = ContinuousClock()
        let fallback = previousEnded + configuration.pollInterval
        var due = fallback
        var notified = false
        while !isStopping {
            let now = clock.now
            if now >= due { break }
            // Wake for a notification, the deadline, or at least every 200 ms to notice a stop request.
            let received = try connection.waitForNotifications(
                timeout: now.duration(to: min(due, now + .milliseconds(200)))
            )
            if !notified, received.contains(where: { $0.channel == PairStore.changeChannel }) {
                notified = true
                due = min(fallback, clock.now + configuration.minCycleSpacing)
            }
        }
        _ = try connection.waitForNotifications(timeout: .zero)
    }

    /// Connects, takes leadership (waiting while another learner holds it) and runs `body` as the leader.
    private func withLeaderSession(_ body: (Learner, PostgresConnection) throws -> Void) throws {
        let connection = try PostgresConnection.connect(databaseURL, retryingFor: .seconds(30), logger: logger)
        defer { connection.close() }
        try connection.setApplicationName("amc learn " + worker)
        let leadership = LearnerLeadership(connection: connection)
        guard try leadership.waitForLeadership(interval: configuration.pollInterval, shouldStop: stop, logger: logger)
        else { return }
        // A learner that stops hands over at once; one whose session broke loses the lock with it anyway.
        defer { _ = try? leadership.release() }
        let metrics = LearnerMetrics()
        metrics.leader.record(1)
        defer { metrics.leader.record(0) }
        try body(
            Learner(configuration: configuration, connection: connection, worker: worker, logger: logger, cache: cache),
            connection
        )
    }

    private func stop() -> Bool { isStopping }

}

extension LearnerOutcome {
    /// Whether `--follow` reports the outcome: not a cycle that found nothing to learn, nor one that found an
    /// interleaving experiment still undecided.
    var isReported: Bool {
        switch self {
        case .noNewPairs: false
        case .interleaving(let decision): decision.outcome != .undecided
        case .published, .refused, .onTrial: true
        }
    }
}
