import Foundation
import Hummingbird
import HummingbirdTesting
import Learning
import LearningTestSupport
import Model
import Simulation
import Synchronization
import TestSupport
import Testing

@testable import Serving

@Suite struct ArchitectureHotSwapTests {
    /// The order a swap goes through the table of architectures: AMC, CASC, AMS, CAAN (those this build has), then
    /// any other architecture in the table's order, and back to the first.
    static func swapOrder(_ ids: [String]) -> [String] {
        let preferred = ["amc", "casc", "ams", "caan"].filter(ids.contains)
        let order = preferred + ids.filter { !preferred.contains($0) }
        return order + order.prefix(1)
    }

    @Test func theSwapOrderStartsWithAMCAndReturnsToIt() {
        #expect(Self.swapOrder(["amc", "late_fusion"]) == ["amc", "late_fusion", "amc"])
        #expect(
            Self.swapOrder(["amc", "late_fusion", "caan", "ams", "casc"])
                == ["amc", "casc", "ams", "caan", "late_fusion", "amc"]
        )
    }

    /// One version of every architecture of the table, activated in turn (``swapOrder(_:)``) while clients keep
    /// scoring: no request fails, each client sees the versions in exactly that order, every response's results are
    /// the ones its stated version's architecture computes (never scored by one and labelled with another), and each
    /// swap that changes architecture was served with a catalog the watcher had already re-encoded for the new model
    /// (a fresh encoding, complete, scoring bit for bit like the raw features) — no request encoded anything.
    @Test func swapsThroughEveryArchitectureAndBackUnderLoadWithoutFailedOrMisversionedRequests() async throws {
        let fixture = try LearningFixture.serving()
        let order = Self.swapOrder(ModelArchitectures.ids)
        var versionOf: [String: Int64] = [:]
        for (seed, architecture) in order.dropLast().enumerated() {
            versionOf[architecture] = try fixture.publish(
                seed: UInt64(seed + 1),
                activate: seed == 0,
                architecture: architecture
            )
        }
        let sequence = order.map { versionOf[$0]! }
        for (architecture, version) in zip(order, sequence) {
            #expect(try fixture.scoringModel(version).architecture == architecture)
        }
        let (holder, _, app) = scoringWorker(fixture, testConfiguration())
        let keys = Array(fixture.world.images.prefix(60).map(\.key))
        let query = fixture.world.trainingQueries[1].text
        let body = try jsonBody(["query": query, "images": keys])
        // What each version answers: its best image and score, computed from the raw features.
        var expectations: [Int64: (image: String, score: Float)] = [:]
        var rawFeatures: [Int64: [ImageFeatures]] = [:]
        for version in Set(sequence) {
            let model = try fixture.scoringModel(version)
            let catalog = try fixture.catalogFeatures(hashBuckets: model.hashBuckets)
            rawFeatures[version] = keys.map { catalog[$0]! }
            let scored = model.score(query: query, images: rawFeatures[version]!)
            let best = scored.max { $0.score < $1.score || ($0.score == $1.score && $0.index > $1.index) }!
            expectations[version] = (keys[best.index], best.score)
        }
        let (expected, features) = (expectations, rawFeatures)
        let clients = 4
        let phases = sequence.count
        let seen = (0..<phases).map { _ in ClientSet() }
        let phase = SwapStep()
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == sequence[0] })
            let histories = try await withThrowingTaskGroup(
                of: [(status: Int, version: Int64?, best: String?, score: Double?)].self
            ) { group in
                for index in 0..<clients {
                    group.addTask {
                        var history: [(status: Int, version: Int64?, best: String?, score: Double?)] = []
                        let deadline = ContinuousClock.now + .seconds(300)
                        while ContinuousClock.now < deadline {
                            let now = phase.current
                            if now == phases { break }
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
                            if answer.version == sequence[now] { seen[now].insert(index) }
                            await Task.yield()
                        }
                        return history
                    }
                }
                for step in 1..<phases {
                    let answered = try await eventually(within: .seconds(60)) { seen[step - 1].count == clients }
                    #expect(answered, "every client is answered by version \(sequence[step - 1])")
                    let previous = try #require(holder.current())
                    phase.current = step
                    try await blocking { try fixture.activate(sequence[step]) }
                    let swapped = try await eventually(within: .seconds(60)) {
                        holder.current()?.version == sequence[step]
                    }
                    #expect(swapped, "version \(sequence[step]) was never served")
                    // The snapshot that answers for the new architecture already holds the catalog encoded for it.
                    let served = try #require(holder.current())
                    #expect(served.catalog !== previous.catalog, "an architecture change re-encodes the catalog")
                    #expect(served.catalog.count == fixture.world.images.count)
                    let encoded = keys.map { served.catalog[$0]! }
                    let fromCatalog = served.model.score(query: served.model.encodeQuery(query), encodedImages: encoded)
                    let fromRaw = served.model.score(query: query, images: features[served.version]!)
                    #expect(fromCatalog.map(\.score.bitPattern) == fromRaw.map(\.score.bitPattern))
                }
                let answeredLast = try await eventually(within: .seconds(60)) { seen[phases - 1].count == clients }
                #expect(answeredLast, "every client is answered by version \(sequence[phases - 1])")
                phase.current = phases
                var histories: [[(status: Int, version: Int64?, best: String?, score: Double?)]] = []
                for try await history in group { histories.append(history) }
                return histories
            }
            for history in histories {
                #expect(history.allSatisfy { $0.status == 200 }, "failed requests")
                let versions = history.compactMap(\.version)
                #expect(versions.count == history.count)
                var path = versions.prefix(1).map { $0 }
                for version in versions.dropFirst() where version != path.last { path.append(version) }
                #expect(path == sequence, "versions seen: \(path)")
                for answer in history {
                    guard let version = answer.version, let want = expected[version] else { continue }
                    #expect(answer.best == want.image, "version \(version) answered with another model's ranking")
                    #expect(answer.score.map { Float($0) } == want.score, "version \(version)")
                }
            }
        }
    }
}

/// Which step of a swap sequence a test is in, shared with its clients.
private final class SwapStep: Sendable {
    private let value = Mutex(0)

    var current: Int {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
