import ClickLog
import Dispatch
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Simulation
import Synchronization

/// Simulated users on the real loop: at a steady rate a user of the world issues a query to the scorer, looks at
/// the ranking it returns and clicks by the world's truth (``SimulatedUsers``); each click goes to Kafka as a JSON
/// click event keyed by the normalised query, as `amc produce` sends them.
///
/// A visit starts every `1 / rate` seconds, as soon as one of ``UserSimulationConfiguration/concurrency`` slots is
/// free (with one slot, visits are made one after another); when the scorer answers too slowly for that (a visit
/// later than one interval and 100 ms), the pace resumes from the moment a slot freed rather than catching up in a
/// burst. On graceful shutdown or cancellation the
/// visits in flight are abandoned; at the end of ``UserSimulationConfiguration/duration`` or after
/// ``UserSimulationConfiguration/maxVisits`` no visit starts and those in flight finish. Either way every click event
/// already produced is flushed before ``run()`` returns.
public final class UserSimulationDriver: Service, Sendable {
    private let users: SimulatedUsers
    private let configuration: UserSimulationConfiguration
    private let kafka: KafkaConfig
    private let logger: Logger
    private let onVisit: @Sendable (AnsweredVisit) -> Void
    private let state = Mutex(UserSimulationReport())
    /// The recent clicks per answered visit, for ``UserSimulationConfiguration/clickRate``.
    private let clickPace = Mutex(ClickPace())
    /// The producer's calls can block (a full local queue, the flush); they run here, off the cooperative pool.
    private let producerQueue = DispatchQueue(label: "amc.simulate-users.producer")

    /// A driver of `users` against the scorer and topic of `configuration`.
    /// - Parameters:
    ///   - users: The simulated users (world, user model, seed).
    ///   - configuration: Scorer, topic, pace, duration and shift.
    ///   - kafka: The producer's settings.
    ///   - logger: Where failed requests are logged.
    ///   - onVisit: Called with every answered visit once its click events went to the producer (from the visit's
    ///     task; visits in flight together call it concurrently).
    public init(
        users: SimulatedUsers,
        configuration: UserSimulationConfiguration,
        kafka: KafkaConfig,
        logger: Logger,
        onVisit: @escaping @Sendable (AnsweredVisit) -> Void = { _ in }
    ) {
        precondition(configuration.rate > 0 && configuration.rate.isFinite, "the rate must be positive")
        precondition(configuration.concurrency >= 1, "at least one visit must be allowed in flight")
        self.users = users
        self.configuration = configuration
        self.kafka = kafka
        self.logger = logger
        self.onVisit = onVisit
    }

    /// What the run did so far (complete once ``run()`` returned).
    public var report: UserSimulationReport { state.withLock { $0 } }

    /// Runs the users until the duration ends, a graceful shutdown or cancellation, then flushes the producer.
    /// - Throws: ``KafkaError`` when the producer cannot be created or refuses a message (the run stops; what was
    ///   produced before is still flushed).
    public func run() async throws {
        let producer = try KafkaProducer(config: kafka, logger: logger)
        let client = ScoringClient(
            baseURL: configuration.serveURL,
            timeout: configuration.requestTimeout,
            connections: configuration.concurrency
        )
        var failure: (any Error)?
        do {
            try await cancelWhenGracefulShutdown { try await self.visitUntilStopped(client, producer) }
        } catch is CancellationError {
            // Stopped: flush below.
        } catch {
            failure = error
        }
        let flushed: Result<Void, any Error> = await withCheckedContinuation { continuation in
            producerQueue.async {
                continuation.resume(returning: Result { try producer.flush(timeout: .seconds(60)) })
            }
        }
        state.withLock { $0.notDelivered = producer.failedCount }
        if let failure { throw failure }
        try flushed.get()
    }

    // MARK: - Visits

    private func visitUntilStopped(_ client: ScoringClient, _ producer: KafkaProducer) async throws {
        var interval = Duration.seconds(1 / configuration.rate)
        let start = ContinuousClock.now
        let end = configuration.duration.map { start + $0 }
        try await withThrowingTaskGroup(of: Void.self) { visits in
            var due = start
            var number = 0
            var inFlight = 0
            while true {
                try Task.checkCancellation()
                if let end, due >= end || ContinuousClock.now >= end { break }
                if let maxVisits = configuration.maxVisits, number >= maxVisits { break }
                // A free slot first (then the checks again: the run may have ended meanwhile), then the paced time:
                // a slot that frees late resets the pace.
                if inFlight >= configuration.concurrency {
                    try await visits.next()
                    inFlight -= 1
                    continue
                }
                if let clickRate = configuration.clickRate {
                    interval = clickPace.withLock { $0.interval(clickRate: clickRate) } ?? interval
                }
                // A timer wakes no finer than `timerResolution`, so a visit due sooner starts now; one late by up to
                // `catchUp` (a timer's overshoot, a busy thread pool) keeps its place in the pace; later than that,
                // the pace resumes from now.
                let now = ContinuousClock.now
                if due - now > Self.timerResolution {
                    try await Task.sleep(until: due, clock: .continuous)
                } else if now - due > max(interval, Self.catchUp) {
                    due = now
                }
                due += interval
                let shifted = configuration.shiftAt.map { ContinuousClock.now - start >= $0 } ?? false
                if shifted {
                    state.withLock { report in
                        if report.visitsBeforeShift == nil { report.visitsBeforeShift = number }
                    }
                }
                visits.addTask { [number] in try await self.visit(number, shifted: shifted, client, producer) }
                inFlight += 1
                number += 1
            }
            try await visits.waitForAll()
        }
    }

    /// A visit due within this is started at once rather than slept for (a timer wakes no finer).
    static let timerResolution = Duration.milliseconds(2)
    /// How late a visit may start and still keep its place in the pace (more than one interval at high rates).
    static let catchUp = Duration.milliseconds(100)

    /// One page view: score the visit's candidates, click, produce the clicks.
    private func visit(
        _ number: Int,
        shifted: Bool,
        _ client: ScoringClient,
        _ producer: KafkaProducer
    ) async throws {
        let visit = users.visit(number)
        let ranking: ScoringClient.Ranking
        do {
            ranking = try await client.score(query: visit.text, images: visit.candidates, top: users.model.pageSize)
        } catch {
            try Task.checkCancellation()
            logger.warning("scoring request failed", metadata: ["error": "\(error)", "visit": "\(number)"])
            state.withLock { report in
                report.failedRequests += 1
                report.lastFailure = "\(error)"
            }
            return
        }
        let answeredAt = Date()
        let page = users.page(of: ranking.images)
        let clicks = users.clicks(on: page, for: visit, shifted: shifted)
        let micros = Int64((answeredAt.timeIntervalSince1970 * 1_000_000).rounded())
        let events = clicks.map {
            Array(
                SimulatedUsers.eventJSON(
                    $0,
                    visit: visit,
                    page: page,
                    ranking: ranking.rankingID,
                    timestampMicros: micros
                ).utf8
            )
        }
        try await send(events, key: Array(QueryNormalizer.normalize(visit.text).utf8), producer)
        clickPace.withLock { $0.record(clicks: clicks.count) }
        state.withLock { report in
            report.tally.record(pageLength: page.count, clicks: clicks)
            report.produced += events.count
        }
        onVisit(
            AnsweredVisit(
                number: number,
                answeredAt: answeredAt,
                modelVersion: ranking.modelVersion,
                shifted: shifted,
                page: page,
                clicks: clicks,
                events: events
            )
        )
    }

    private func send(_ events: [[UInt8]], key: [UInt8], _ producer: KafkaProducer) async throws {
        guard !events.isEmpty else { return }
        let topic = configuration.topic
        let sent: Result<Void, any Error> = await withCheckedContinuation { continuation in
            producerQueue.async {
                continuation.resume(
                    returning: Result {
                        for event in events { try producer.send(topic: topic, key: key, value: event) }
                        producer.poll()
                    }
                )
            }
        }
        try sent.get()
    }
}
