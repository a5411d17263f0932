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
    /// Fine-tuning cycles every poll interval until stopped; a bootstrap first when `bootstrapFirst`, and whenever
    /// no version was ever published (a new deployment needs no separate bootstrap step).
    case follow(bootstrapFirst: Bool)
}

/// The learner as a ``Service``: takes leadership (waiting while another learner holds it), then runs its mode.
///
/// In `follow` mode a lost database session is not fatal: the service reconnects, waits for leadership again
/// (another learner may have taken over) and carries on; a cycle that fails (say, the catalog is still empty) is
/// logged and retried after the poll interval. In the one-shot modes errors are thrown.
public final class LearnerService: Service, Sendable {
    private let configuration: LearnerConfiguration
    private let databaseURL: DatabaseURL
    private let mode: LearnerMode
    private let worker: String
    private let logger: Logger
    private let onProgress: @Sendable (LearnerProgress) -> Void
    private let onOutcome: @Sendable (LearnerOutcome) -> Void
    private let stopRequested = Mutex(false)

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
            try withLeaderSession { learner in onOutcome(try learner.bootstrap(progress: onProgress, shouldStop: stop))
            }
        case .once:
            try withLeaderSession { learner in onOutcome(try learner.fineTune(progress: onProgress, shouldStop: stop)) }
        case .follow(let bootstrapFirst):
            var needsBootstrap = bootstrapFirst
            var refusedWatermark: String?
            while !isStopping {
                do {
                    try withLeaderSession { learner in
                        while !isStopping {
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
                                    case .published: refusedWatermark = nil
                                    }
                                    if case .noNewPairs = outcome {} else { onOutcome(outcome) }
                                }
                            } catch let error where error is LearnerError || error is RegistryError {
                                guard !isStopping else { return }
                                logger.error("Learner cycle failed; retrying", metadata: ["error": "\(error)"])
                            }
                            pause(configuration.pollInterval, unless: stop)
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

    /// Connects, takes leadership (waiting while another learner holds it) and runs `body` as the leader.
    private func withLeaderSession(_ body: (Learner) throws -> Void) throws {
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
        try body(Learner(configuration: configuration, connection: connection, worker: worker, logger: logger))
    }

    private func stop() -> Bool { isStopping }

}
