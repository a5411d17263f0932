import CommandSupport
import Foundation
import Logging
import ServiceLifecycle
import Serving
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The demo's scoring worker and the live traffic it serves while versions are activated and rolled back: an
/// in-process `amc serve` on a loopback port, and a client that keeps scoring labelled queries over HTTP and
/// records every response's status and model version.
final class DemoTraffic: Sendable {
    /// What the client saw.
    struct Tally: Sendable {
        var requests = 0
        var failed = 0
        /// Model versions in the order responses reported them (runs collapsed: 1, 2, 1, 2 …).
        var versionRuns: [Int64] = []
        /// Every (time, version) of the responses.
        var seen: [(at: ContinuousClock.Instant, version: Int64)] = []
    }

    /// The state the server callback and the client task share.
    private final class State: Sendable {
        let tally = Mutex(Tally())
        let stopRequested = Mutex(false)
        let port = Mutex<Int?>(nil)
        let client = Mutex<Task<Void, Never>?>(nil)
    }

    private let state = State()
    private let group: ServiceGroup
    private let server: Task<Void, any Error>

    /// Starts the worker (it loads the active version and follows activations).
    init(databaseURL: String, logger: Logger) {
        var configuration = ServingConfiguration()
        configuration.port = 0
        configuration.recheckInterval = .seconds(1)
        let state = state
        let app = ScoringAPI.buildApplication(
            configuration: configuration,
            databaseURL: databaseURL,
            logger: logger,
            onServerRunning: { bound in state.port.withLock { $0 = bound } }
        )
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: logger))
        self.group = group
        server = Task { try await group.run() }
    }

    /// Waits until the worker listens and has a model loaded.
    func waitUntilReady(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let port = state.port.withLock({ $0 }),
                let (_, response) = try? await URLSession.shared.data(from: Self.url(port, "/readyz")),
                (response as? HTTPURLResponse)?.statusCode == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CommandError("the demo's scoring worker did not become ready")
    }

    /// The worker's base URL, once it listens.
    var url: URL? {
        state.port.withLock { $0 }.map { URL(string: "http://127.0.0.1:\($0)")! }
    }

    /// Starts scoring `queries` (query, candidate keys) round-robin until ``stop()``.
    func start(queries: [(query: String, images: [String])]) {
        guard let port = state.port.withLock({ $0 }), !queries.isEmpty else { return }
        let state = state
        let task = Task {
            var index = 0
            while !state.stopRequested.withLock({ $0 }) {
                let (query, images) = queries[index % queries.count]
                index += 1
                var request = URLRequest(url: Self.url(port, "/v1/score"))
                request.httpMethod = "POST"
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                request.httpBody = try? JSONSerialization.data(withJSONObject: ["query": query, "images": images])
                let outcome = try? await URLSession.shared.data(for: request)
                let status = (outcome?.1 as? HTTPURLResponse)?.statusCode
                let version = outcome.flatMap {
                    (try? JSONSerialization.jsonObject(with: $0.0) as? [String: Any])?["model_version"] as? Int
                }
                state.tally.withLock { tally in
                    tally.requests += 1
                    guard status == 200, let version else {
                        tally.failed += 1
                        return
                    }
                    let number = Int64(version)
                    if tally.versionRuns.last != number { tally.versionRuns.append(number) }
                    tally.seen.append((ContinuousClock.now, number))
                }
            }
        }
        state.client.withLock { $0 = task }
    }

    /// How long after `since` the traffic first saw `version`, waiting up to `timeout`.
    func firstSeen(
        _ version: Int64,
        since: ContinuousClock.Instant,
        timeout: Duration = .seconds(10)
    ) async throws
        -> Duration?
    {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let hit = state.tally.withLock({ $0.seen.first { $0.at >= since && $0.version == version } }) {
                return hit.at - since
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Stops the client, then shuts the worker down gracefully, and returns the tally.
    func stop() async -> Tally {
        state.stopRequested.withLock { $0 = true }
        await state.client.withLock({ $0 })?.value
        await group.triggerGracefulShutdown()
        _ = try? await server.value
        return state.tally.withLock { $0 }
    }

    private static func url(_ port: Int, _ path: String) -> URL {
        URL(string: "http://127.0.0.1:\(port)\(path)")!
    }
}
