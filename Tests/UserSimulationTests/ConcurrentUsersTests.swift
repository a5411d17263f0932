import Foundation
import Hummingbird
import Kafka
import LearningTestSupport
import Logging
import Model
import ServiceLifecycle
import Simulation
import Synchronization
import TestSupport
import Testing
import UserSimulation

/// Simulated users with several visits in flight, against a scorer that answers slowly with a ranking unrelated to
/// relevance (a shuffle seeded by the query), so the position bias can be checked on what the users clicked.
@Suite(.timeLimit(.minutes(5)))
struct ConcurrentUsersTests {
    @Test func visitsInFlightStayWithinTheBoundAndClicksKeepTheConfiguredPositionBias() async throws {
        let world = World(configuration: tinyWorld())
        let users = SimulatedUsers(world: world, model: UserModel(), seed: 6)
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        defer { cluster.shutdown() }
        try cluster.createTopic("concurrent-clicks", partitions: 2)
        let inFlight = InFlightRequests()
        let answered = AnsweredVisits()

        let report = try await withShufflingScorer(inFlight: inFlight) { url in
            var configuration = UserSimulationConfiguration()
            configuration.serveURL = url
            configuration.topic = "concurrent-clicks"
            // One slot could make at most about 100 visits a second against a 10 ms scorer: the rate needs them all.
            configuration.rate = 2000
            configuration.concurrency = 4
            configuration.maxVisits = 3000
            configuration.duration = .seconds(240)
            let driver = UserSimulationDriver(
                users: users,
                configuration: configuration,
                kafka: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
                logger: testLogger,
                onVisit: { visit in answered.all.withLock { $0.append(visit) } }
            )
            try await driver.run()
            return driver.report
        }
        let most = inFlight.count.withLock { $0.most }
        #expect(most <= 4, "at most four requests in flight")
        #expect(most >= 2, "the slots were used")
        let connections = inFlight.connections.withLock { $0.count }
        #expect(connections >= 2 && connections <= 4, "each slot kept its connection: \(connections) for 3000 visits")
        #expect(report.failedRequests == 0 && report.visits == 3000 && report.notDelivered == 0)
        let visits = answered.all.withLock { $0 }
        #expect(visits.count == 3000)
        #expect(Set(visits.map(\.number)) == Set(0..<3000))
        #expect(visits.reduce(0) { $0 + $1.events.count } == report.produced)

        // Clicks per rank against what the position-based model expects of these pages: each rank's count is a sum
        // of independent Bernoulli draws, within 4.5 standard deviations of its mean (the seed fixes the draws).
        let images = Dictionary(uniqueKeysWithValues: world.images.enumerated().map { ($1.key, $0) })
        let ranks = world.configuration.resultsPerPage
        var observed = [Double](repeating: 0, count: ranks)
        var expected = observed
        var variance = observed
        for visit in visits {
            let query = users.visit(visit.number).query
            let concept = world.trainingQueries[query].concept
            let intent = world.intent(of: query, shifted: visit.shifted)
            #expect(visit.page.count == ranks)
            for (rank, key) in visit.page.enumerated() {
                let attractiveness = world.attractiveness(image: images[key]!, concept: concept, intent: intent)
                let probability = 1 / pow(Double(rank + 1), 0.7) * attractiveness
                expected[rank] += probability
                variance[rank] += probability * (1 - probability)
            }
            for click in visit.clicks {
                #expect(visit.page[click.position] == click.image)
                observed[click.position] += 1
            }
        }
        for rank in 0..<ranks {
            #expect(abs(observed[rank] - expected[rank]) <= 4.5 * variance[rank].squareRoot(), "rank \(rank)")
        }
        #expect(observed[0] > 2 * observed[ranks - 1])
    }

    @Test func pacingByClicksFollowsTheRecentClicksPerVisit() throws {
        var pace = ClickPace()
        for _ in 1..<ClickPace.minimumVisits { pace.record(clicks: 2) }
        #expect(pace.interval(clickRate: 2000) == nil, "too few visits to pace by")
        pace.record(clicks: 2)
        // 2 clicks per visit: 2,000 clicks/s takes 1,000 visits/s, one every millisecond.
        let steady = try #require(pace.interval(clickRate: 2000))
        #expect(abs(steady / .seconds(1) - 0.001) < 1e-12)
        // Users now click once per visit: after a few windows the pace is the new one's (2,000 visits/s), not the
        // run's mean (which would still be well above one click per visit).
        for _ in 0..<(5 * ClickPace.window) { pace.record(clicks: 1) }
        let recent = try #require(pace.interval(clickRate: 2000))
        #expect(abs(recent / .seconds(1) - 0.0005) < 0.000_01)
        var silent = ClickPace()
        for _ in 0..<ClickPace.window { silent.record(clicks: 0) }
        #expect(silent.interval(clickRate: 2000) == nil, "no clicks, no pace by clicks")
    }
}

/// Requests a scorer is answering (now and at most) and has answered.
private final class InFlightRequests: Sendable {
    let count = Mutex((now: 0, most: 0, served: 0))
    /// The client ports requests came from: one per connection.
    let connections = Mutex(Set<Int>())
}

/// A request's context that knows which connection the request came on.
private struct ConnectionRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The client's port.
    let clientPort: Int

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientPort = source.channel.remoteAddress?.port ?? -1
    }
}

/// What the driver's observer received.
private final class AnsweredVisits: Sendable {
    let all = Mutex<[AnsweredVisit]>([])
}

/// Runs, for the duration of `body`, a scorer on a loopback port that answers `POST /v1/score` after 10 ms with the
/// request's images in an order seeded by the query (version 1, a ranking id per request), counting the requests
/// in flight and the connections they came on.
private func withShufflingScorer<T: Sendable>(
    inFlight: InFlightRequests,
    _ body: @Sendable (URL) async throws -> T
) async throws -> T {
    let router = Router(context: ConnectionRequestContext.self)
    router.post("/v1/score") { request, context in
        inFlight.connections.withLock { _ = $0.insert(context.clientPort) }
        let id = inFlight.count.withLock {
            $0.now += 1
            $0.most = max($0.most, $0.now)
            $0.served += 1
            return $0.served
        }
        defer { inFlight.count.withLock { $0.now -= 1 } }
        let sent = try await request.body.collect(upTo: 1 << 20)
        let json = try JSONSerialization.jsonObject(with: Data(sent.readableBytesView)) as? [String: Any]
        let query = json?["query"] as? String ?? ""
        let images = json?["images"] as? [String] ?? []
        var rng = SplitMix64(
            seed: query.utf8.reduce(14_695_981_039_346_656_037) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        )
        let ranked = images.shuffled(using: &rng).map { ["image": $0, "score": 0] }
        try await Task.sleep(for: .milliseconds(10))
        let answer = try JSONSerialization.data(
            withJSONObject: ["results": ranked, "model_version": 1, "ranking_id": String(id)]
        )
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer))
        )
    }
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router,
        configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
        logger: testLogger
    )
    let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: testLogger))
    let server = Task { try await group.run() }
    var port = 0
    for await bound in ports {
        port = bound
        break
    }
    let result: T
    do {
        result = try await body(URL(string: "http://127.0.0.1:\(port)")!)
    } catch {
        await group.triggerGracefulShutdown()
        _ = try? await server.value
        throw error
    }
    await group.triggerGracefulShutdown()
    try await server.value
    return result
}
