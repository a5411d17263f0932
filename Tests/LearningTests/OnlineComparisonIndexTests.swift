import Foundation
import Learning
import LearningTestSupport
import Postgres
import Registry
import TestSupport
import Testing

/// What an online comparison reads (Docs/online.md): an experiment's rankings through `rankings_experiment_idx`
/// (`Migrations/0010_online_experiments.sql`) and the clicks naming them through `click_events_ranking_idx`
/// (`Migrations/0012_click_events_ranking_index.sql`), so its cost follows the experiment, not every ranking and
/// click ever stored.
@Suite struct OnlineComparisonIndexTests {
    @Test func comparisonsReadAnExperimentsRankingsAndTheirClicksThroughIndexes() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        guard case .published(let candidate, _, _) = try learner.bootstrap(),
            case .published(let active, true, _) = try learner.bootstrap()
        else {
            Issue.record("bootstraps did not publish")
            return
        }
        let (interleave, shadow) = try connection.transaction { connection in
            let store = ExperimentStore(connection: connection)
            let interleave = try store.start(
                kind: .interleave,
                candidate: candidate,
                share: 0.5,
                actor: "test",
                reason: "index test"
            )
            let shadow = try store.start(
                kind: .shadow,
                candidate: candidate,
                share: 0.5,
                actor: "test",
                reason: "index"
            )
            return (interleave.experiment, shadow.experiment)
        }

        // Ordinary traffic around the experiments: rankings of no experiment, clicks naming none.
        let images = ["a", "b", "c", "d"]
        for index in 0..<300 {
            try connection.execute(
                """
                INSERT INTO rankings (id, served_at, model_version, query, images)
                VALUES (gen_random_uuid(), now(), \(active), \("plain \(index)"), \(images))
                """
            )
        }
        // Twenty interleaved rankings, the even ones clicked; ten shadow rankings of served ones.
        var clicked = Set<String>()
        for index in 0..<20 {
            let id = UUID().uuidString.lowercased()
            try connection.execute(
                """
                INSERT INTO rankings (id, served_at, model_version, query, images, teams, experiment)
                VALUES (\(id)::uuid, now(), \(active), \("query \(index)"), \(images),
                        \(["active", "candidate", "candidate", "active"]), \(interleave.id))
                """
            )
            if index < 10 {
                try connection.execute(
                    """
                    INSERT INTO rankings (id, served_at, model_version, query, images, experiment, shadow_of)
                    VALUES (gen_random_uuid(), now(), \(candidate), \("query \(index)"), \(images.reversed()),
                            \(shadow.id), \(id)::uuid)
                    """
                )
            }
            if index.isMultiple(of: 2) { clicked.insert(id) }
        }
        var offset = 0
        func click(ranking: String?) throws {
            offset += 1
            try connection.execute(
                """
                INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time, ranking)
                VALUES ('clicks', 0, \(offset), 'q', 'b', 1, now(), \(ranking))
                """
            )
        }
        for id in clicked { try click(ranking: id) }
        for _ in 0..<300 { try click(ranking: nil) }

        // With sequential scans priced out, a plan that can use the indexes does; count the scans of each, in a
        // fresh session (a session's statistics count from its start until they are flushed).
        let fresh = try fixture.connect()
        defer { fresh.close() }
        let (impressions, pairs, rankingScans, clickScans) = try fresh.transaction { connection in
            try connection.execute("SET LOCAL enable_seqscan = off")
            let store = OnlineComparisonStore(connection: connection)
            let impressions = try store.interleavedImpressions(of: interleave.id, startedAt: interleave.startedAt)
            let pairs = try store.shadowPairs(of: shadow.id)
            let scans = try connection.query(
                """
                SELECT pg_stat_get_xact_numscans('rankings_experiment_idx'::regclass),
                       (SELECT coalesce(sum(pg_stat_get_xact_numscans(inhrelid)), 0)::bigint FROM pg_inherits
                        WHERE inhparent = 'click_events_ranking_idx'::regclass)
                """
            )[0]
            return (
                impressions, pairs, try scans.decode(Int64.self, column: 0), try scans.decode(Int64.self, column: 1)
            )
        }
        #expect(Set(impressions.map(\.ranking)) == clicked)
        #expect(pairs.count == 10)
        #expect(rankingScans >= 2, "the experiment's rankings were read through rankings_experiment_idx")
        #expect(clickScans >= 1, "the clicks naming them were read through click_events_ranking_idx")
    }
}
