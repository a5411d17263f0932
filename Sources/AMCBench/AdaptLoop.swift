import ClickLog
import CommandSupport
import Foundation
import Ingest
import Kafka
import Learning
import Logging
import Postgres
import ServiceLifecycle
import Serving
import Simulation
import Synchronization
import UserSimulation

/// One run of `amc bench adapt`'s loop, in process: a scoring worker (`amc serve`), `amc ingest` and
/// `amc learn --follow` on one database, and simulated users searching the worker and producing their clicks, with
/// the intent shift at t₀. The worker's model holder is watched to learn when it first served each version.
struct AdaptLoop: Sendable {
    /// What a run saw.
    struct Run: Sendable {
        var name: String
        var databaseURL: String
        var topic: String
        /// The users' report.
        var report: UserSimulationReport
        /// When the traffic started, shifted (t₀) and ended (wall clock).
        var start: Date
        var shift: Date
        var end: Date
        /// Every version the worker served, when it first served it, in that order.
        var served: [AdaptationDetection.Served]
        /// Seconds from the end of the traffic until a served version included every click (nil: not within the
        /// settle time).
        var settled: Double?
        /// Learner cycles started.
        var cycles: Int

        /// One line: traffic, versions, cycles.
        var summary: String {
            let seconds = end.timeIntervalSince(start)
            let clicks = report.tally.clicks
            return "\(name) run: \(report.visits) queries (\(report.failedRequests) failed), \(clicks) clicks in "
                + "\(BenchAdapt.fixed(seconds, 1)) s = \(BenchAdapt.fixed(Double(report.visits) / seconds, 0)) queries/s, "
                + "\(BenchAdapt.fixed(Double(clicks) / seconds, 0)) clicks/s; learner cycles: \(cycles), "
                + "versions served after the first: \(served.count - 1); "
                + (settled.map { "every click in a served version \(BenchAdapt.fixed($0, 1)) s after the traffic" }
                    ?? "some clicks still outside the served version when the settle time ended")
        }
    }

    var name: String
    var databaseURL: String
    var topic: String
    var brokers: String
    var learner: LearnerConfiguration
    var users: SimulatedUsers
    /// The users' starting pace, in queries per second.
    var visitRate: Double
    /// The clicks per second the users pace their queries by once they have answered visits to measure on.
    var clickRate: Double
    var concurrency: Int
    var duration: Double
    var shiftAt: Double
    var settle: Double
    var logger: Logger

    /// What the worker's watcher and the users' observer record.
    private final class Observed: Sendable {
        let served = Mutex<[AdaptationDetection.Served]>([])
        let port = Mutex<Int?>(nil)
    }

    /// Runs the loop: starts the services, waits for the worker's first model, runs the users, waits for the last
    /// clicks to reach a served version (up to the settle time), stops everything.
    func run() async throws -> Run {
        let observed = Observed()
        let holder = ModelHolder()
        var serving = ServingConfiguration()
        serving.port = 0
        let app = ScoringAPI.buildApplication(
            configuration: serving,
            databaseURL: databaseURL,
            holder: holder,
            logger: logger,
            onServerRunning: { port in observed.port.withLock { $0 = port } }
        )
        var ingestConfiguration = IngestConfiguration()
        ingestConfiguration.topics = [topic]
        let ingest = IngestService(
            configuration: ingestConfiguration,
            kafka: KafkaConfig(bootstrapServers: brokers),
            databaseURL: databaseURL,
            logger: logger
        )
        let learnerService = LearnerService(
            configuration: learner,
            databaseURL: databaseURL,
            mode: .follow(bootstrapFirst: false),
            worker: "bench adapt " + LearnerIdentity.current,
            logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: app), .init(service: ingest), .init(service: learnerService)],
                logger: logger
            )
        )
        let services = Task { try await group.run() }
        // The worker's model, sampled every 5 ms: when it first served each version.
        let watcher = Task {
            while !Task.isCancelled {
                if let version = holder.current()?.version {
                    let now = Date()
                    observed.served.withLock { served in
                        if !served.contains(where: { $0.version == version }) {
                            served.append(AdaptationDetection.Served(version: version, servedAt: now))
                        }
                    }
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        do {
            let url = try await waitForWorker(observed)
            var configuration = UserSimulationConfiguration()
            configuration.serveURL = url
            configuration.topic = topic
            configuration.rate = visitRate
            configuration.clickRate = clickRate
            configuration.concurrency = concurrency
            configuration.duration = .seconds(duration)
            configuration.shiftAt = .seconds(shiftAt)
            let driver = UserSimulationDriver(
                users: users,
                configuration: configuration,
                kafka: KafkaConfig(bootstrapServers: brokers),
                logger: logger
            )
            let start = Date()
            try await driver.run()
            let end = Date()
            let settled = try await waitUntilEveryClickIsServed(holder, since: end)
            watcher.cancel()
            await group.triggerGracefulShutdown()
            try await services.value
            return Run(
                name: name,
                databaseURL: databaseURL,
                topic: topic,
                report: driver.report,
                start: start,
                shift: start.addingTimeInterval(shiftAt),
                end: end,
                served: observed.served.withLock { $0 },
                settled: settled,
                cycles: learnerService.cyclesStarted
            )
        } catch {
            watcher.cancel()
            await group.triggerGracefulShutdown()
            _ = try? await services.value
            throw error
        }
    }

    /// Waits until the worker listens and has a model loaded; returns its URL.
    private func waitForWorker(_ observed: Observed) async throws -> URL {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let port = observed.port.withLock({ $0 }), observed.served.withLock({ !$0.isEmpty }) {
                return URL(string: "http://127.0.0.1:\(port)")!
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CommandError("the benchmark's scoring worker did not load a model within 120 s")
    }

    /// Seconds after `since` at which the version the worker serves included every click of the topic, checked
    /// every second; nil when that did not happen within the settle time.
    private func waitUntilEveryClickIsServed(_ holder: ModelHolder, since: Date) async throws -> Double? {
        let deadline = since.addingTimeInterval(settle)
        let (databaseURL, topic, logger) = (databaseURL, topic, logger)
        let connection = try await onBlockingThread {
            try PostgresConnection.connect(databaseURL, retryingFor: .seconds(10), logger: logger)
        }
        defer { connection.close() }
        while true {
            if let version = holder.current()?.version {
                let outside = try await onBlockingThread {
                    try AdaptStore(connection: connection).clicksOutsideWindow(topic: topic, version: version)
                }
                if outside == 0 { return Date().timeIntervalSince(since) }
            }
            guard Date() < deadline else { return nil }
            try await Task.sleep(for: .seconds(1))
        }
    }

    // MARK: - Producing and ingesting outside the loop

    /// Produces click-log lines (TSV or JSON events) to `topic`, keyed by normalised query, and flushes.
    static func produce(_ lines: [[UInt8]], topic: String, brokers: String, logger: Logger) async throws {
        try await onBlockingThread {
            let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: brokers), logger: logger)
            var publisher = ClickPublisher(producer: producer, topic: topic)
            for line in lines { _ = try publisher.publish(line[...]) }
            try producer.flush(timeout: .seconds(60))
        }
    }

    /// Runs `amc ingest` on `topic` into the database until it has been idle for 2 s.
    static func ingestUntilIdle(
        _ topic: String,
        _ databaseURL: String,
        _ brokers: String,
        _ logger: Logger
    )
        async throws
    {
        var configuration = IngestConfiguration()
        configuration.untilIdle = .seconds(2)
        configuration.topics = [topic]
        try await IngestService(
            configuration: configuration,
            kafka: KafkaConfig(bootstrapServers: brokers),
            databaseURL: databaseURL,
            logger: logger
        ).run()
    }
}
