import Foundation
import Hummingbird
import HummingbirdTesting
import Learning
import LearningTestSupport
import Logging
import Model
import Postgres
import Registry
import ServiceLifecycle
@_spi(Testing) import Serving
import Simulation
import Synchronization
import TestSupport
import Testing

@Suite struct HotSwapTests {
    /// Clients keep scoring while another version is activated: every response succeeds, each client's versions
    /// only move forward, and each client sees the old version before the activation and the new one after it.
    /// The activation waits until every client has been answered by the old version (no sleep, no scheduling
    /// assumption); how fast a swap is served is measured by `amc bench score`, not asserted here.
    @Test func activationSwapsUnderLoadWithoutFailedRequests() async throws {
        let fixture = try LearningFixture.serving()
        let first = try fixture.publish(seed: 1, activate: true)
        let second = try fixture.publish(seed: 2, activate: false)
        let (holder, _, app) = scoringWorker(fixture, testConfiguration())
        let keys = Array(fixture.world.images.prefix(100).map(\.key))
        let body = try jsonBody(["query": fixture.world.trainingQueries[1].text, "images": keys])
        let clients = 4
        let answeredByFirst = ClientSet()
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == first })
            let histories = try await withThrowingTaskGroup(of: [(status: Int, version: Int64?)].self) { group in
                for index in 0..<clients {
                    group.addTask {
                        var history: [(status: Int, version: Int64?)] = []
                        var newOnes = 0
                        let deadline = ContinuousClock.now + .seconds(120)
                        // Until this client has seen the new version a few times.
                        while newOnes < 5, ContinuousClock.now < deadline {
                            let (status, version) = try await client.execute(
                                uri: "/v1/score",
                                method: .post,
                                body: body
                            ) { response in
                                (response.status.code, try jsonObject(response.body)["model_version"] as? Int)
                            }
                            history.append((status, version.map(Int64.init)))
                            if version.map(Int64.init) == first { answeredByFirst.insert(index) }
                            if version.map(Int64.init) == second { newOnes += 1 }
                            await Task.yield()
                        }
                        return history
                    }
                }
                let allAnswered = try await eventually(within: .seconds(60)) {
                    answeredByFirst.count == clients
                }
                #expect(allAnswered, "every client is answered by the first version before the activation")
                try await blocking { try fixture.activate(second) }
                let swapped = try await eventually(within: .seconds(60)) { holder.current()?.version == second }
                #expect(swapped, "the new version was never served")
                var histories: [[(status: Int, version: Int64?)]] = []
                for try await history in group { histories.append(history) }
                return histories
            }
            for history in histories {
                #expect(history.allSatisfy { $0.status == 200 })
                let versions = history.compactMap(\.version)
                #expect(versions.count == history.count)
                #expect(versions == versions.sorted(), "a client saw the version move backwards")
                #expect(versions.first == first)
                #expect(versions.last == second)
            }
        }
    }

    /// A registry holding two architectures (AMC version 1, late fusion version 2): clients keep scoring while the
    /// worker swaps from AMC to late fusion and back. Every response succeeds, each client's versions go 1 → 2 → 1
    /// and never back, and every response's results are the ones its stated version computes (nothing is scored by
    /// one architecture and labelled with the other).
    @Test func swapsBetweenArchitecturesBothWaysUnderLoad() async throws {
        let fixture = try LearningFixture.serving()
        let first = try fixture.publish(seed: 1, activate: true)
        let second = try fixture.publish(seed: 2, activate: false, architecture: LateFusionModel.architecture)
        #expect(try fixture.scoringModel(first).architecture == "amc")
        #expect(try fixture.scoringModel(second).architecture == "late_fusion")
        let (holder, _, app) = scoringWorker(fixture, testConfiguration())
        let keys = Array(fixture.world.images.prefix(60).map(\.key))
        let query = fixture.world.trainingQueries[1].text
        let body = try jsonBody(["query": query, "images": keys])
        // What each version answers: its best image and score.
        var expectations: [Int64: (image: String, score: Float)] = [:]
        for version in [first, second] {
            let model = try fixture.scoringModel(version)
            let catalog = try fixture.catalogFeatures(hashBuckets: model.hashBuckets)
            let scored = model.score(query: query, images: keys.map { catalog[$0]! })
            let best = scored.max { $0.score < $1.score || ($0.score == $1.score && $0.index > $1.index) }!
            expectations[version] = (keys[best.index], best.score)
        }
        let expected = expectations
        #expect(expected[first]!.score != expected[second]!.score)
        let clients = 4
        let seen = [ClientSet(), ClientSet(), ClientSet()]  // answered in phase 0 (first), 1 (second), 2 (first again)
        let phase = SwapPhase()
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == first })
            let histories = try await withThrowingTaskGroup(
                of: [(status: Int, version: Int64?, best: String?, score: Double?)].self
            ) { group in
                for index in 0..<clients {
                    group.addTask {
                        var history: [(status: Int, version: Int64?, best: String?, score: Double?)] = []
                        let deadline = ContinuousClock.now + .seconds(180)
                        while ContinuousClock.now < deadline {
                            let now = phase.current
                            if now == 3 { break }
                            let answer = try await client.execute(uri: "/v1/score", method: .post, body: body) {
                                response in
                                let decoded = try jsonObject(response.body)
                                let results = decoded["results"] as? [[String: Any]]
                                return (
                                    status: Int(response.status.code),
                                    version: (decoded["model_version"] as? Int).map(Int64.init),
                                    best: results?.first?["image"] as? String,
                                    score: results?.first?["score"] as? Double
                                )
                            }
                            history.append(answer)
                            let expectedVersion = now == 1 ? second : first
                            if answer.version == expectedVersion { seen[min(now, 2)].insert(index) }
                            await Task.yield()
                        }
                        return history
                    }
                }
                for (step, target) in [(0, second), (1, first)] {
                    let answered = try await eventually(within: .seconds(60)) { seen[step].count == clients }
                    #expect(answered, "every client is answered by version \(step == 0 ? first : second)")
                    phase.current = step + 1
                    try await blocking { try fixture.activate(target) }
                    let swapped = try await eventually(within: .seconds(60)) { holder.current()?.version == target }
                    #expect(swapped, "version \(target) was never served")
                }
                let answeredAgain = try await eventually(within: .seconds(60)) { seen[2].count == clients }
                #expect(answeredAgain, "every client is answered by version \(first) again")
                phase.current = 3
                var histories: [[(status: Int, version: Int64?, best: String?, score: Double?)]] = []
                for try await history in group { histories.append(history) }
                return histories
            }
            for history in histories {
                #expect(history.allSatisfy { $0.status == 200 })
                let versions = history.compactMap(\.version)
                #expect(versions.count == history.count)
                // 1 … 1, 2 … 2, 1 … 1: two changes at most, in that order.
                var changes: [Int64] = []
                for (a, b) in zip(versions, versions.dropFirst()) where a != b { changes.append(b) }
                #expect(changes == [second, first], "versions seen: \(changes)")
                for answer in history {
                    guard let version = answer.version, let want = expected[version] else { continue }
                    #expect(answer.best == want.image, "version \(version) answered with another model's ranking")
                    #expect(answer.score.map { Float($0) } == want.score, "version \(version)")
                }
            }
        }
    }

    /// A version whose stored weights fail their sha256 check is refused once; the old one keeps serving. (The
    /// registry refuses to activate such a version; the activation is written unchecked, as by hand, to get past it.)
    @Test func corruptVersionIsRefusedAndTheOldOneKeepsServing() async throws {
        let fixture = try LearningFixture.serving()
        let first = try fixture.publish(seed: 1, activate: true)
        let second = try fixture.publish(seed: 2, activate: false)
        try fixture.corrupt(second)
        var configuration = testConfiguration()
        configuration.recheckInterval = .milliseconds(100)
        let (holder, metrics, app) = scoringWorker(fixture, configuration)
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == first })
            try await blocking { try fixture.recordUncheckedActivation(second) }
            #expect(
                try await eventually(within: .seconds(30)) {
                    metrics.render().contains("amc_serve_model_load_refusals_total 1")
                }
            )
            // Several re-checks later it has not been retried, and the old version still answers.
            try await Task.sleep(for: .milliseconds(600))
            #expect(metrics.render().contains("amc_serve_model_load_refusals_total 1"))
            #expect(holder.current()?.version == first)
            let body = try jsonBody(["query": "kitten", "images": [fixture.world.images[0].key]])
            try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                #expect(response.status == .ok)
                let decoded = try jsonObject(response.body)

                #expect(decoded["model_version"] as? Int == Int(first))
            }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
            // An operator rolls back to the good version; a later good version is picked up as usual.
            try await blocking { try fixture.activate(first) }
            let third = try fixture.publish(seed: 3, activate: true)
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == third })
        }
    }

    /// A fine-tune of the served version is built from the served model and the fine-tune's own online part: the
    /// worker never reads the parent's weights again (here they have gone bad since, and the fine-tune still swaps
    /// in; its activation is written unchecked, as the registry would refuse it), and it scores exactly like the
    /// fine-tune read in full.
    @Test func aFineTuneOfTheServedVersionLoadsOnlyItsOnlinePart() async throws {
        let fixture = try LearningFixture.serving()
        let first = try fixture.publish(seed: 1, activate: true)
        var configuration = quickConfiguration()
        configuration.activate = false
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        let queries = fixture.world.trainingQueries.map(\.text)
            .filter { !TrainingData.isHeldOut($0, percent: configuration.holdoutPercent) }.prefix(3)
        try fixture.addPairs(queries.map { ($0, fixture.world.images[0].key, 4) })
        guard case .published(let child, false, _) = try learner.fineTune() else {
            Issue.record("fine-tuning did not publish")
            return
        }
        let expected = try fixture.model(child)
        var serving = testConfiguration()
        serving.recheckInterval = .milliseconds(100)
        let (holder, metrics, app) = scoringWorker(fixture, serving)
        try await app.test(.router) { _ in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == first })
            try fixture.corrupt(first)
            try await blocking { try fixture.recordUncheckedActivation(child) }
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == child })
            #expect(metrics.render().contains("amc_serve_model_load_refusals_total 0"))
            let sameWeights = holder.current()?.model.parameters == expected.weights.parameters
            #expect(sameWeights, "the worker's fine-tune differs from the one read in full")
        }
    }

    /// Fine-tunes of one parent (siblings, as when the learner's candidates are activated out of order) keep
    /// loading only their parts after the parent is neither served nor the model the last swap replaced: the
    /// worker keeps the parameters it applied the last part to (here the parent's stored weights have gone bad
    /// before the third sibling, which still swaps in; its activation is written unchecked).
    @Test func siblingFineTunesOfOneParentLoadOnlyTheirParts() async throws {
        let fixture = try LearningFixture.serving()
        let first = try fixture.publish(seed: 1, activate: true)
        var configuration = quickConfiguration()
        configuration.activate = false
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        let queries = Array(
            fixture.world.trainingQueries.map(\.text)
                .filter { !TrainingData.isHeldOut($0, percent: configuration.holdoutPercent) }.prefix(9)
        )
        var siblings: [Int64] = []
        for round in 0..<3 {
            try fixture.addPairs(
                queries[(round * 3)..<(round * 3 + 3)].map { ($0, fixture.world.images[round].key, 4) }
            )
            guard case .published(let sibling, false, _) = try learner.fineTune() else {
                Issue.record("fine-tuning did not publish")
                return
            }
            siblings.append(sibling)
        }
        let published = siblings
        let expected = try fixture.model(published[2])
        var serving = testConfiguration()
        serving.recheckInterval = .milliseconds(100)
        let (holder, metrics, app) = scoringWorker(fixture, serving)
        try await app.test(.router) { _ in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == first })
            for sibling in published.prefix(2) {
                try await blocking { try fixture.activate(sibling) }
                #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == sibling })
            }
            try fixture.corrupt(first)
            try await blocking { try fixture.recordUncheckedActivation(published[2]) }
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == published[2] })
            #expect(metrics.render().contains("amc_serve_model_load_refusals_total 0"))
            let sameWeights = holder.current()?.model.parameters == expected.weights.parameters
            #expect(sameWeights, "the worker's fine-tune differs from the one read in full")
        }
    }

    /// A fine-tune built on the served parent is checked where it differs from it: a part with a NaN is refused and
    /// the parent keeps serving.
    @Test func aFineTuneWhosePartIsNotFiniteIsRefusedOnTopOfItsServedParent() async throws {
        let fixture = try LearningFixture.serving()
        let first = try fixture.publish(seed: 1, activate: true)
        let broken = try await blocking {
            let connection = try fixture.connect()
            defer { connection.close() }
            let registry = ModelRegistry(connection: connection)
            var weights = try AMCWeights(parameters: registry.parameters(of: first))
            weights.withTensor(.modalityVisualBias) { $0[0] = .nan }
            let record = try #require(try registry.version(first))
            return try registry.insert(
                ModelRegistry.NewVersion(
                    kind: .finetune,
                    parent: first,
                    parameters: weights.parameters,
                    watermark: record.watermark,
                    trainingWindow: record.trainingWindow,
                    hyperparameters: record.hyperparameters,
                    metrics: record.metrics,
                    createdBy: "test"
                )
            )
        }
        var configuration = testConfiguration()
        configuration.recheckInterval = .milliseconds(100)
        let (holder, metrics, app) = scoringWorker(fixture, configuration)
        try await app.test(.router) { _ in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == first })
            try await blocking { try fixture.recordUncheckedActivation(broken) }
            let refused = try await eventually(within: .seconds(30)) {
                metrics.render().contains("amc_serve_model_load_refusals_total 1")
            }
            #expect(refused, "the non-finite fine-tune was not refused")
            #expect(holder.current()?.version == first)
        }
    }

    /// A rollback to the version the last swap replaced is served from memory: it reads no weights from the
    /// database (here they have gone bad since, and it still swaps back; the activations are written unchecked, as
    /// the registry would refuse them), while a version never loaded is fetched and verified as usual.
    @Test func rollingBackToTheReplacedVersionNeedsNoWeightsFromTheDatabase() async throws {
        let fixture = try LearningFixture.serving()
        let first = try fixture.publish(seed: 1, activate: true)
        let second = try fixture.publish(seed: 2, activate: false)
        var configuration = testConfiguration()
        configuration.recheckInterval = .milliseconds(100)
        let (holder, metrics, app) = scoringWorker(fixture, configuration)
        try await app.test(.router) { _ in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == first })
            try await blocking { try fixture.activate(second) }
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == second })
            try fixture.corrupt(first)
            try await blocking { try fixture.recordUncheckedActivation(first) }
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == first })
            #expect(metrics.render().contains("amc_serve_model_load_refusals_total 0"))
            // `second` is now the retained one; `first` was replaced, so going back to `second` is also from
            // memory, and a third version is loaded from the database.
            try await blocking { try fixture.activate(second) }
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == second })
            let third = try fixture.publish(seed: 3, activate: false)
            try fixture.corrupt(third)
            try await blocking { try fixture.recordUncheckedActivation(third) }
            #expect(
                try await eventually(within: .seconds(30)) {
                    metrics.render().contains("amc_serve_model_load_refusals_total 1")
                }
            )
            #expect(holder.current()?.version == second)
        }
    }

    /// Graceful shutdown (SIGTERM through the service group) lets a request in flight finish.
    @Test func gracefulShutdownFinishesTheRequestInFlight() async throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: true)
        let holder = ModelHolder()
        let gate = RequestGate()
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = ScoringAPI.buildApplication(
            configuration: testConfiguration(),
            databaseURL: fixture.url,
            holder: holder,
            logger: testLogger,
            onServerRunning: { portContinuation.yield($0) },
            beforeScoring: { await gate.pass() }
        )
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: app)], logger: testLogger)
        )
        let body = try jsonBody(["query": "kitten", "images": [fixture.world.images[0].key]])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            let client = TestClient(host: "127.0.0.1", port: port)
            client.connect()
            let inFlight = Task {
                try await client.post("/v1/score", headers: [.contentType: "application/json"], body: body)
            }
            #expect(try await eventually(within: .seconds(30)) { gate.entered == 1 })
            await group.triggerGracefulShutdown()
            try await Task.sleep(for: .milliseconds(200))
            gate.open()
            let response = try await inFlight.value
            let responseBody = try #require(response.body)
            #expect(response.status == .ok)
            let decoded = try jsonObject(responseBody)

            #expect(decoded["model_version"] as? Int == Int(version))
            try await tasks.waitForAll()
            try? await client.shutdown()
        }
    }
}

/// The clients (by index) that have seen something, shared by concurrent tasks.
final class ClientSet: Sendable {
    private let members = Mutex(Set<Int>())

    var count: Int { members.withLock { $0.count } }

    func insert(_ client: Int) { _ = members.withLock { $0.insert(client) } }
}

/// Holds `POST /v1/score` requests until opened.
final class RequestGate: Sendable {
    private struct State {
        var entered = 0
        var isOpen = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    var entered: Int { state.withLock { $0.entered } }

    func pass() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { state in
                state.entered += 1
                if !state.isOpen { state.waiting.append(continuation) }
                return state.isOpen
            }
            if open { continuation.resume() }
        }
    }

    func open() {
        let waiting = state.withLock { state in
            state.isOpen = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}

/// Which phase of a swap sequence a test is in, shared with its clients.
private final class SwapPhase: Sendable {
    private let value = Mutex(0)

    var current: Int {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
