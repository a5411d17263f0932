import ClickLog
import Foundation
import Hummingbird
import HummingbirdTesting
import Ingest
import Kafka
import Learning
import LearningTestSupport
import Postgres
import Registry
import Serving
import Simulation
import TestSupport
import Testing

/// Interleaving's credit through the real pieces (`Docs/online.md`): under a running interleaving experiment a
/// scoring worker answers with the active and candidate versions' rankings merged by team draft, JSON click events
/// naming those rankings go through librdkafka's mock cluster and the ingest service, and every click is credited
/// to the team that placed the clicked image where the response showed it.
@Suite(.timeLimit(.minutes(8)))
struct InterleavingAttributionTests {
    @Test func eachClickIsCreditedToTheTeamThatPlacedItsImageInTheResponse() async throws {
        let helpers = AttributionTests()
        let fixture = try LearningFixture(world: tinyWorld())
        let candidate = try helpers.publish(fixture, seed: 1, activate: false)
        let active = try helpers.publish(fixture, seed: 2, activate: true)
        let experiment = try {
            let connection = try fixture.connect()
            defer { connection.close() }
            return try connection.transaction {
                try ExperimentStore(connection: $0).start(
                    kind: .interleave,
                    candidate: candidate,
                    share: 1,
                    actor: "test",
                    reason: "attribution of teams"
                )
            }.experiment
        }()
        let queries = Array(fixture.world.trainingQueries.prefix(4).map(\.text))
        let keys = Array(fixture.world.images.prefix(10).map(\.key))

        struct Served {
            var id: String
            var query: String
            var images: [String]
            /// The team of each position, read off the response: the team whose ranking has that image as its best
            /// one not shown above it (nil where both teams' rankings would have placed it there).
            var teams: [String?]
        }
        let holder = ModelHolder()
        var configuration = ServingConfiguration()
        configuration.port = 0
        configuration.recheckInterval = .milliseconds(500)
        let app = ScoringAPI.buildApplication(
            configuration: configuration,
            databaseURL: fixture.url,
            holder: holder,
            logger: testLogger
        )
        let served = try await app.test(.router) { client in
            #expect(try await helpers.eventually { holder.current()?.version == active })
            #expect(try await helpers.eventually { holder.experiment(.interleave)?.experiment.id == experiment.id })
            let activeModel = try #require(holder.current())
            let candidateModel = try #require(holder.experiment(.interleave)).candidate
            var served: [Served] = []
            for query in queries {
                let body = try JSONSerialization.data(withJSONObject: ["query": query, "images": keys, "top": 6])
                let images = try await client.execute(uri: "/v1/score", method: .post, body: ByteBuffer(bytes: body)) {
                    response in
                    #expect(response.status == .ok)
                    let object = try #require(
                        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                    )
                    let results = try #require(object["results"] as? [[String: Any]])
                    let id = try #require(object["ranking_id"] as? String)
                    return (id, results.compactMap { $0["image"] as? String })
                }
                let activeRanking = try await activeModel.score(query: query, images: keys, top: nil)
                let candidateRanking = try await candidateModel.score(query: query, images: keys, top: nil)
                let rankings = [
                    ("active", activeRanking.results.map(\.image)),
                    ("candidate", candidateRanking.results.map(\.image)),
                ]
                let teams: [String?] = images.1.indices.map { position in
                    let above = images.1.prefix(position)
                    let placers = rankings.filter { $0.1.first { !above.contains($0) } == images.1[position] }
                    #expect(!placers.isEmpty, "position \(position) is neither team's pick")
                    return placers.count == 1 ? placers[0].0 : nil
                }
                served.append(Served(id: images.0, query: query, images: images.1, teams: teams))
            }
            let connection = try fixture.connect()
            defer { connection.close() }
            #expect(
                try await helpers.eventually {
                    try connection.query("SELECT count(*) FROM rankings")[0].decode(Int.self, column: 0)
                        == served.count
                }
            )
            return served
        }
        #expect(served.allSatisfy { $0.images.count == 6 })
        // The two versions disagree, so the check below is exercised for both teams: positions where exactly one team
        // could have placed the image (how many depends on the worker's coin flips, so only a floor is asserted).
        let determined = served.flatMap(\.teams).compactMap { $0 }
        #expect(Set(determined) == ["active", "candidate"], "\(served.map(\.teams))")
        #expect(determined.count >= served.count, "\(served.map(\.teams))")

        // Users click every position of every ranking (the event says where they saw it).
        struct Click {
            var served: Served
            var position: Int
            var image: String { served.images[position] }
        }
        let clicks = served.flatMap { ranking in ranking.images.indices.map { Click(served: ranking, position: $0) } }
        let lines = clicks.map { click in
            helpers.event(
                query: click.served.query,
                image: click.image,
                extra: ["position": click.position, "impressions": click.served.images, "ranking": click.served.id]
            )
        }
        try await helpers.ingest(
            zip(lines, clicks).map { line, click in
                (key: Array(QueryNormalizer.normalize(click.served.query).utf8), value: line)
            },
            into: fixture,
            group: "interleaving-attribution"
        )

        let connection = try fixture.connect()
        defer { connection.close() }
        #expect(try connection.query("SELECT count(*) FROM dead_letters")[0].decode(Int.self, column: 0) == 0)
        var credited: [String: Int] = [:]
        for click in clicks {
            let row = try #require(
                try connection.query(
                    """
                    SELECT a.attributed, a.model_version, a.ranked_position, a.team, a.experiment, r.teams
                    FROM click_attributions a JOIN rankings r ON r.id = a.ranking::uuid
                    WHERE a.ranking = \(click.served.id) AND a.image = \(click.image)
                    """
                ).first
            )
            #expect(try row.decode(Bool.self, column: 0))
            #expect(try row.decode(Int64.self, column: 1) == active)
            #expect(try row.decode(Int.self, column: 2) == click.position)
            let team = try row.decode(String.self, column: 3)
            // The credited team is the one that placed the image where the response showed it.
            if let expected = click.served.teams[click.position] {
                #expect(team == expected, "\(click.served.query) position \(click.position)")
            }
            #expect(try row.decode([String].self, column: 5)[click.position] == team)
            #expect(try row.decode(Int64.self, column: 4) == experiment.id)
            credited[team, default: 0] += 1
        }
        // Six positions per ranking, three per team (team draft alternates within each round).
        #expect(credited == ["active": clicks.count / 2, "candidate": clicks.count / 2])
    }
}
