import Catalog
import Foundation
import Prometheus
import Registry
import ServiceLifecycle
import Synchronization

/// Scores sampled requests with the shadow experiment's candidate version, off the request path, and records that
/// ranking beside the served one (`Docs/online.md`, "Shadow scoring").
///
/// The scoring route hands each sampled request to ``submit(_:)``, which only appends it to a bounded in-memory
/// queue (a lock held for the append) and never waits: when ``ServingConfiguration/shadowQueueCapacity`` jobs are
/// waiting the new one is dropped and counted (`amc_serve_shadow_dropped_total`), so shadow scoring can never slow
/// down or fail a request. A `Service`: one dedicated thread takes the jobs in order, scores each with the candidate
/// snapshot it was sampled with, and hands the shadow ranking to the ``RankingRecorder``. On graceful shutdown
/// (which reaches it after the server has stopped) it finishes the job in hand and drops what is queued, counted.
///
/// `@unchecked Sendable`: the queue and the stop flag are guarded by `condition`.
final class ShadowScorer: Service, @unchecked Sendable {
    /// One sampled request.
    struct Job: Sendable {
        /// The experiment and its candidate snapshot, as the request saw them.
        var experiment: ServedExperiment
        /// The normalised query.
        var query: String
        /// The request's image keys.
        var images: [String]
        /// The request's inline images (the candidate encodes them with its own model).
        var inline: [CatalogImage] = []
        /// The request's `top`.
        var top: Int?
        /// The served ranking's id: the shadow ranking's `shadow_of`.
        var servedRankingID: String
        /// When the served ranking was answered (the shadow ranking's `served_at` too).
        var servedAt: Date
    }

    private let capacity: Int
    private let recorder: RankingRecorder
    private let metrics: ServingMetrics
    private let beforeScoring: (@Sendable () -> Void)?
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var stopping = false

    /// - Parameters:
    ///   - configuration: The queue's capacity.
    ///   - recorder: Where shadow rankings are recorded.
    ///   - metrics: Scored, dropped and the queue depth.
    ///   - beforeScoring: Runs on the scorer's thread before each job (tests hold jobs with it).
    init(
        configuration: ServingConfiguration,
        recorder: RankingRecorder,
        metrics: ServingMetrics,
        beforeScoring: (@Sendable () -> Void)? = nil
    ) {
        capacity = configuration.shadowQueueCapacity
        self.recorder = recorder
        self.metrics = metrics
        self.beforeScoring = beforeScoring
    }

    /// Queues `job`, or drops it (counted) when the queue is full or the scorer is stopping. Never waits.
    /// - Returns: Whether it was queued.
    @discardableResult
    func submit(_ job: Job) -> Bool {
        condition.lock()
        let queued = !stopping && queue.count < capacity
        if queued {
            queue.append(job)
            condition.signal()
        }
        let depth = queue.count
        condition.unlock()
        if queued {
            metrics.shadowQueueDepth.set(Double(depth))
        } else {
            metrics.shadowDropped.increment()
        }
        return queued
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await runOnDedicatedThread()
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    private func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func runOnDedicatedThread() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                self.scoreUntilStopped()
                continuation.resume()
            }
            thread.name = "amc-serve-shadow"
            // Shadow work yields to the requests' threads when the cores are busy.
            thread.qualityOfService = .utility
            thread.start()
        }
    }

    // MARK: - The scorer thread

    private func scoreUntilStopped() {
        while let job = nextJob() {
            beforeScoring?()
            score(job)
        }
    }

    /// Waits for the next job; nil once stopping (what is still queued is dropped and counted).
    private func nextJob() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !stopping {
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.5))
        }
        if stopping {
            if !queue.isEmpty { metrics.shadowDropped.increment(by: Int64(queue.count)) }
            queue.removeAll()
            metrics.shadowQueueDepth.set(Double(0))
            return nil
        }
        let job = queue.removeFirst()
        metrics.shadowQueueDepth.set(Double(queue.count))
        return job
    }

    private func score(_ job: Job) {
        let candidate = job.experiment.candidate
        // Scoring is asynchronous (images outside a catalog memory budget are read from PostgreSQL): this thread waits
        // for it, never a request's. A job whose images cannot be read is dropped and counted.
        let finished = DispatchSemaphore(value: 0)
        let scored = Mutex<ScoringResult?>(nil)
        Task(priority: .utility) {
            let result = try? await candidate.score(
                normalizedQuery: job.query,
                images: job.images,
                inline: job.inline,
                top: job.top
            )
            scored.withLock { $0 = result }
            finished.signal()
        }
        finished.wait()
        guard let outcome = scored.withLock({ $0 }) else {
            metrics.shadowDropped.increment()
            return
        }
        recorder.submit(
            RankingRecord(
                id: RankingID.make(at: job.servedAt),
                servedAt: job.servedAt,
                modelVersion: candidate.version,
                query: job.query,
                images: outcome.results.map(\.image),
                experiment: job.experiment.experiment.id,
                shadowOf: job.servedRankingID
            )
        )
        metrics.shadowScored.increment()
    }
}
