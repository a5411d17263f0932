import Catalog
import Dispatch
import Foundation
import Hummingbird
import HummingbirdTesting
import Learning
import LearningTestSupport
import Postgres
import Registry
@_spi(Testing) import Serving
import Simulation
import Synchronization
import TestSupport
import Testing

/// Scoring workers and online experiments (`Docs/online.md`): a worker follows the running experiments on
/// notification; shadow scoring records a second ranking off the request path and never fails or holds a request;
/// interleaving answers with the two versions' rankings merged by team draft and records each position's team.
@Suite(.timeLimit(.minutes(8)))
struct OnlineExperimentTests {
    @Test func aWorkerStartsAndStopsFollowingAnExperimentOnNotification() async throws {
        let fixture = try LearningFixture.serving()
        let candidate = try fixture.publish(seed: 1, activate: false)
        let active = try fixture.publish(seed: 2, activate: true)
        var configuration = testConfiguration()
        // No periodic re-check within the test: only the notifications can make the worker notice.
        configuration.recheckInterval = .seconds(3600)
        let (holder, metrics, app) = scoringWorker(fixture, configuration)
        try await app.test(.router) { _ in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == active })
            #expect(holder.experiments().isEmpty)
            let started = try fixture.startExperiment(.interleave, candidate: candidate, share: 0.5)
            #expect(
                try await eventually(within: .seconds(30)) {
                    holder.experiment(.interleave)?.experiment.id == started.id
                }
            )
            let followed = try #require(holder.experiment(.interleave))
            #expect(followed.candidate.version == candidate && followed.experiment.share == 0.5)
            #expect(followed.candidate.catalogImages == holder.current()?.catalogImages)
            #expect(holder.experiment(.shadow) == nil)
            let gauge = #"amc_serve_experiment_candidate_version{kind="interleave"}"#
            #expect(metrics.render().contains("\(gauge) \(candidate)"))

            try fixture.stopExperiment(.interleave)
            #expect(try await eventually(within: .seconds(30)) { holder.experiment(.interleave) == nil })
            #expect(metrics.render().contains("\(gauge) 0"))
            // The served version was never touched.
            #expect(holder.current()?.version == active)
        }
    }

    @Test func shadowScoringAddsNoFailedRequestsAndItsWorkStaysOffTheResponse() async throws {
        let fixture = try LearningFixture.serving()
        let candidate = try fixture.publish(seed: 1, activate: false)
        let active = try fixture.publish(seed: 2, activate: true)
        var configuration = testConfiguration()
        configuration.shadowQueueCapacity = 4
        // The candidate's scoring is held until released: shadow jobs stay pending while requests are answered.
        let gate = DispatchSemaphore(value: 0)
        let holding = Mutex(0)
        let holder = ModelHolder()
        let metrics = ServingMetrics()
        let app = ScoringAPI.buildApplication(
            configuration: configuration,
            databaseURL: fixture.url,
            holder: holder,
            metrics: metrics,
            logger: testLogger,
            beforeShadowScoring: {
                holding.withLock { $0 += 1 }
                gate.wait()
            }
        )
        let keys = Array(fixture.world.images.prefix(8).map(\.key))
        let requests = 12
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == active })
            let experiment = try fixture.startExperiment(.shadow, candidate: candidate, share: 1)
            #expect(try await eventually(within: .seconds(30)) { holder.experiment(.shadow) != nil })
            var served: [(id: String, query: String, images: [String])] = []
            for index in 0..<requests {
                let query = "kitten \(index % 3)"
                let body = try jsonBody(["query": query, "images": keys, "top": 5])
                let answer = try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    #expect(response.status == .ok)
                    let object = try jsonObject(response.body)
                    #expect(object["model_version"] as? Int == Int(active))
                    let results = try #require(object["results"] as? [[String: Any]])
                    return (
                        id: try #require(object["ranking_id"] as? String),
                        query: query,
                        images: results.compactMap { $0["image"] as? String }
                    )
                }
                served.append(answer)
                if index == 0 {
                    // The first job is in hand (and held) before the others come.
                    #expect(try await eventually(within: .seconds(30)) { holding.withLock { $0 } == 1 })
                }
            }
            // Every request was answered while the first shadow job is still held: none waited for shadow work.
            #expect(holding.withLock { $0 } == 1)
            let text = metrics.render()
            #expect(RankingRecordingTests.counter("amc_serve_shadow_scored_total", in: text) == 0)
            // One job in hand, four queued; the rest were dropped and counted, their requests unaffected.
            let dropped = RankingRecordingTests.counter("amc_serve_shadow_dropped_total", in: text)
            #expect(dropped == requests - 5)
            #expect(text.contains(#"amc_serve_requests_total{route="/v1/score",status="200"} \#(requests)"#))
            #expect(!text.contains(#"status="5"#))

            for _ in 0..<requests { gate.signal() }
            let connection = try fixture.connect()
            defer { connection.close() }
            #expect(
                try await eventually(within: .seconds(30)) {
                    try connection.query("SELECT count(*) FROM rankings WHERE shadow_of IS NOT NULL")[0]
                        .decode(Int.self, column: 0) == requests - dropped
                        && connection.query("SELECT count(*) FROM rankings")[0].decode(Int.self, column: 0)
                            == 2 * requests - dropped
                }
            )
            #expect(
                RankingRecordingTests.counter("amc_serve_shadow_scored_total", in: metrics.render())
                    == requests - dropped
            )
            // Each shadow ranking names its served ranking, which names the experiment too; its images are the
            // candidate's own ranking of the request.
            let model = try #require(holder.experiment(.shadow)).candidate
            let rows = try connection.query(
                """
                SELECT s.shadow_of::text, s.model_version, s.experiment, s.images, s.teams IS NULL, r.experiment,
                       r.model_version, s.query
                FROM rankings s JOIN rankings r ON r.id = s.shadow_of
                """
            )
            #expect(rows.count == requests - dropped)
            for row in rows {
                let servedID = try row.decode(String.self, column: 0)
                let request = try #require(served.first { $0.id == servedID })
                #expect(try row.decode(Int64.self, column: 1) == candidate)
                #expect(try row.decode(Int64.self, column: 2) == experiment.id)
                let images = try row.decode([String].self, column: 3)
                let expected = try await model.score(query: request.query, images: keys, top: 5)
                #expect(images == expected.results.map(\.image))
                #expect(try row.decode(Bool.self, column: 4))
                #expect(try row.decode(Int64.self, column: 5) == experiment.id)
                #expect(try row.decode(Int64.self, column: 6) == active)
                #expect(try row.decode(String.self, column: 7) == request.query)
            }
            // The served rankings whose shadow job was dropped are ordinary rankings: no experiment.
            #expect(
                try connection.query(
                    "SELECT count(*) FROM rankings WHERE shadow_of IS NULL AND experiment IS NULL"
                )[0].decode(Int.self, column: 0) == dropped
            )
        }
    }

    @Test func interleavedResponsesMergeBothRankingsByTeamDraftAndRecordEachPositionsTeam() async throws {
        let fixture = try LearningFixture.serving()
        let candidate = try fixture.publish(seed: 1, activate: false)
        let active = try fixture.publish(seed: 2, activate: true)
        let (holder, metrics, app) = scoringWorker(fixture, testConfiguration())
        let keys = Array(fixture.world.images.prefix(12).map(\.key))
        let queries = fixture.world.trainingQueries.prefix(6).map(\.text)
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == active })
            let experiment = try fixture.startExperiment(.interleave, candidate: candidate, share: 1)
            #expect(try await eventually(within: .seconds(30)) { holder.experiment(.interleave) != nil })
            let activeModel = try #require(holder.current())
            let candidateModel = try #require(holder.experiment(.interleave)).candidate
            var answers: [(id: String, query: String, results: [[String: Any]])] = []
            for query in queries {
                let body = try jsonBody(["query": query, "images": keys + ["unknown-key"], "top": 7])
                let answer = try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    #expect(response.status == .ok)
                    let object = try jsonObject(response.body)
                    #expect(object["model_version"] as? Int == Int(active))
                    #expect(object["unknown_images"] as? [String] == ["unknown-key"])
                    return (
                        id: try #require(object["ranking_id"] as? String),
                        query: query,
                        results: try #require(object["results"] as? [[String: Any]])
                    )
                }
                answers.append(answer)
            }
            // An explained request is never interleaved.
            let explained = try jsonBody(["query": queries[0], "images": keys, "explain": true])
            try await client.execute(uri: "/v1/score", method: .post, body: explained) { response in
                #expect(response.status == .ok)
            }
            #expect(RankingRecordingTests.counter("amc_serve_interleaved_total", in: metrics.render()) == queries.count)

            let connection = try fixture.connect()
            defer { connection.close() }
            #expect(
                try await eventually(within: .seconds(30)) {
                    try connection.query("SELECT count(*) FROM rankings")[0].decode(Int.self, column: 0)
                        == queries.count + 1
                }
            )
            var teamCounts: [String: Int] = [:]
            for answer in answers {
                let row = try #require(
                    try connection.query(
                        "SELECT images, teams, experiment, model_version FROM rankings WHERE id = \(answer.id)::uuid"
                    ).first
                )
                let images = try row.decode([String].self, column: 0)
                let teams = try row.decode([String].self, column: 1)
                #expect(images == answer.results.compactMap { $0["image"] as? String })
                #expect(images.count == 7 && teams.count == 7)
                #expect(try row.decode(Int64.self, column: 2) == experiment.id)
                #expect(try row.decode(Int64.self, column: 3) == active)
                // Each position holds its team's best image not placed before it, with that team's score.
                let rankings = [
                    "active": try await activeModel.score(query: answer.query, images: keys, top: nil).results,
                    "candidate": try await candidateModel.score(query: answer.query, images: keys, top: nil).results,
                ]
                for (position, team) in teams.enumerated() {
                    let ranking = try #require(rankings[team], "unknown team \(team)")
                    let best = try #require(ranking.first { !images.prefix(position).contains($0.image) })
                    #expect(best.image == images[position], "\(answer.query) position \(position)")
                    #expect((answer.results[position]["score"] as? Double).map { Float($0) } == best.score)
                    teamCounts[team, default: 0] += 1
                }
                // Team draft: after every full round the teams have placed as many images each.
                for end in stride(from: 2, through: teams.count, by: 2) {
                    #expect(teams.prefix(end).filter { $0 == "active" }.count == end / 2)
                }
            }
            #expect(Set(teamCounts.keys) == ["active", "candidate"])
        }
    }

    @Test func aCandidateThatFailsToLoadIsRefusedOnceAndRequestsAreServedAsBefore() async throws {
        let fixture = try LearningFixture.serving()
        let candidate = try fixture.publish(seed: 1, activate: false)
        let active = try fixture.publish(seed: 2, activate: true)
        try fixture.corrupt(candidate)
        let (holder, metrics, app) = scoringWorker(fixture, testConfiguration())
        let keys = Array(fixture.world.images.prefix(6).map(\.key))
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == active })
            let experiment = try fixture.startExperiment(.interleave, candidate: candidate, share: 1)
            #expect(
                try await eventually(within: .seconds(30)) {
                    RankingRecordingTests.counter("amc_serve_experiment_load_refusals_total", in: metrics.render()) == 1
                }
            )
            #expect(holder.experiment(.interleave) == nil)
            let body = try jsonBody(["query": "kitten", "images": keys])
            try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                #expect(response.status == .ok)
            }
            // Re-checks (every 500 ms here) do not retry the refused experiment.
            try await Task.sleep(for: .seconds(1.5))
            let text = metrics.render()
            #expect(RankingRecordingTests.counter("amc_serve_experiment_load_refusals_total", in: text) == 1)
            #expect(RankingRecordingTests.counter("amc_serve_interleaved_total", in: text) == 0)
            let connection = try fixture.connect()
            defer { connection.close() }
            #expect(
                try await eventually(within: .seconds(30)) {
                    try connection.query("SELECT count(*) FROM rankings WHERE experiment IS NULL AND teams IS NULL")[0]
                        .decode(Int.self, column: 0) == 1
                }
            )
            #expect(try fixture.runningExperimentIDs() == [experiment.id])
        }
    }

    @Test func aFollowedCandidateIsReEncodedForANewCatalog() async throws {
        let fixture = try LearningFixture.serving()
        let candidate = try fixture.publish(seed: 1, activate: false)
        let active = try fixture.publish(seed: 2, activate: true)
        var configuration = testConfiguration()
        configuration.catalogRefreshInterval = .milliseconds(500)
        let (holder, _, app) = scoringWorker(fixture, configuration)
        try await app.test(.router) { _ in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == active })
            let experiment = try fixture.startExperiment(.shadow, candidate: candidate, share: 1)
            #expect(try await eventually(within: .seconds(30)) { holder.experiment(.shadow) != nil })
            let before = try #require(holder.experiment(.shadow)).candidate.catalogImages
            // A new image, a copy of the first one's features under a new key.
            let connection = try fixture.connect()
            defer { connection.close() }
            let first = try #require(try CatalogStore(connection: connection).allImages().first)
            var added = first
            added.key = "added-image"
            _ = try CatalogStore(connection: connection).upsert([added])
            #expect(
                try await eventually(within: .seconds(30)) {
                    holder.experiment(.shadow)?.candidate.catalogImages == before + 1
                        && holder.current()?.catalogImages == before + 1
                }
            )
            let followed = try #require(holder.experiment(.shadow))
            #expect(followed.experiment.id == experiment.id && followed.candidate.version == candidate)
            let scored = try await followed.candidate.score(query: "kitten", images: ["added-image"], top: nil)
            #expect(scored.results.map(\.image) == ["added-image"] && scored.unknownImages.isEmpty)
        }
    }

    @Test func aCandidateActivatedMeanwhileIsNotComparedWithItself() async throws {
        let fixture = try LearningFixture.serving()
        let candidate = try fixture.publish(seed: 1, activate: false)
        let active = try fixture.publish(seed: 2, activate: true)
        let (holder, metrics, app) = scoringWorker(fixture, testConfiguration())
        let keys = Array(fixture.world.images.prefix(6).map(\.key))
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == active })
            _ = try fixture.startExperiment(.interleave, candidate: candidate, share: 1)
            #expect(try await eventually(within: .seconds(30)) { holder.experiment(.interleave) != nil })
            try fixture.activate(candidate)
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == candidate })
            let body = try jsonBody(["query": "kitten", "images": keys])
            try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                #expect(response.status == .ok)
                let object = try jsonObject(response.body)
                #expect(object["model_version"] as? Int == Int(candidate))
            }
            #expect(RankingRecordingTests.counter("amc_serve_interleaved_total", in: metrics.render()) == 0)
        }
    }
}

extension LearningFixture {
    /// Starts an experiment as an operator would (one transaction; announced at commit).
    @discardableResult
    func startExperiment(_ kind: ExperimentKind, candidate: Int64, share: Double) throws -> OnlineExperiment {
        let connection = try connect()
        defer { connection.close() }
        return try connection.transaction {
            try ExperimentStore(connection: $0).start(
                kind: kind,
                candidate: candidate,
                share: share,
                actor: "test",
                reason: "serving test"
            )
        }.experiment
    }

    /// Stops the running experiment of `kind`.
    func stopExperiment(_ kind: ExperimentKind) throws {
        let connection = try connect()
        defer { connection.close() }
        _ = try connection.transaction {
            try ExperimentStore(connection: $0).stop(kind: kind, actor: "test", reason: "serving test")
        }
    }

    /// The ids of the running experiments.
    func runningExperimentIDs() throws -> [Int64] {
        let connection = try connect()
        defer { connection.close() }
        return try ExperimentStore(connection: connection).running().all.map(\.id)
    }
}
