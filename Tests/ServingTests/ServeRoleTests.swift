import Foundation
import Hummingbird
import HummingbirdTesting
import Learning
import LearningTestSupport
import Postgres
import Registry
import Serving
import Simulation
import TestSupport
import Testing

/// Least privilege for `amc serve` (`Migrations/0005_roles.sql`, Docs/security.md): as a login in `amc_serve` the
/// scoring worker loads, serves and hot-swaps the active version and records the rankings it returns, and it is refused
/// everything else.
@Suite struct ServeRoleTests {
    @Test func serveRoleLoadsServesAndSwapsTheActiveVersionAndIsRefusedEverythingElse() async throws {
        let fixture = try LearningFixture.serving()
        let first = try fixture.publish(seed: 1, activate: true)
        let second = try fixture.publish(seed: 2, activate: false)
        try await TestLogin.with(role: "amc_serve", database: fixture.url) { login in
            let (holder, _, app) = scoringWorker(fixture, testConfiguration(), databaseURL: login.url)
            try await app.test(.router) { client in
                #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == first })
                let body = try jsonBody(["query": "kitten", "images": [fixture.world.images[0].key]])
                try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    #expect(response.status == .ok)
                    let decoded = try jsonObject(response.body)
                    #expect(decoded["model_version"] as? Int == Int(first))
                }
                // An activation (by the owner here; operators in AMCCommandTests) is heard and loaded.
                try await blocking { try fixture.activate(second) }
                #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == second })
                // The worker records the rankings it returns as this login (it may append to `rankings`).
                try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    #expect(response.status == .ok)
                }
                let owner = try fixture.connect()
                defer { owner.close() }
                #expect(
                    try await eventually(within: .seconds(30)) {
                        try owner.query("SELECT count(*) FROM rankings")[0].decode(Int.self, column: 0) == 2
                    }
                )
            }

            let connection = try login.connect()
            defer { connection.close() }
            #expect(try connection.query("SELECT count(*) FROM images")[0].decode(Int.self, column: 0) > 0)
            let refused = [
                "SELECT count(*) FROM click_events", "SELECT count(*) FROM relevance_pairs",
                "SELECT count(*) FROM relevance_labels", "SELECT count(*) FROM dead_letters",
                "SELECT count(*) FROM ingest_offsets", "SELECT count(*) FROM model_baselines",
                "SELECT count(*) FROM learner_runs",
                "INSERT INTO model_activations (version, actor, reason) VALUES (\(first), 'serve', 'no')",
                "UPDATE relevance_pairs SET clicks = 0", "DELETE FROM model_activations",
                "UPDATE images SET keywords = '{}'", "DELETE FROM images",
                "INSERT INTO click_events (topic, partition, \"offset\", query, image, clicks, event_time) "
                    + "VALUES ('forged', 0, 0, 'q', 'i', 1, now())",
                "TRUNCATE model_versions", "CREATE TABLE amc_intruder (a integer)",
                "SELECT count(*) FROM rankings", "UPDATE rankings SET model_version = 1", "DELETE FROM rankings",
                "SELECT count(*) FROM click_attributions",
                "CREATE TEMP TABLE amc_intruder (a integer)",
            ]
            #expect(notRefused(refused, on: connection) == [])
        }
    }

    @Test func serveRoleFollowsExperimentsAndRecordsShadowRankingsButMayNotStartThem() async throws {
        let fixture = try LearningFixture.serving()
        let candidate = try fixture.publish(seed: 1, activate: false)
        let active = try fixture.publish(seed: 2, activate: true)
        let experiment = try fixture.startExperiment(.shadow, candidate: candidate, share: 1)
        try await TestLogin.with(role: "amc_serve", database: fixture.url) { login in
            let (holder, _, app) = scoringWorker(fixture, testConfiguration(), databaseURL: login.url)
            try await app.test(.router) { client in
                #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == active })
                #expect(try await eventually(within: .seconds(30)) { holder.experiment(.shadow) != nil })
                let body = try jsonBody(["query": "kitten", "images": [fixture.world.images[0].key]])
                try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    #expect(response.status == .ok)
                }
                let owner = try fixture.connect()
                defer { owner.close() }
                // The served ranking and its shadow, both written as this login.
                #expect(
                    try await eventually(within: .seconds(30)) {
                        try owner.query(
                            """
                            SELECT count(*) FROM rankings s JOIN rankings r ON r.id = s.shadow_of
                            WHERE s.model_version = \(candidate) AND s.experiment = \(experiment.id)
                              AND r.experiment = \(experiment.id)
                            """
                        )[0].decode(Int.self, column: 0) == 1
                    }
                )
            }
            let connection = try login.connect()
            defer { connection.close() }
            #expect(try connection.query("SELECT count(*) FROM online_experiments")[0].decode(Int.self, column: 0) == 1)
            let refused = [
                "INSERT INTO online_experiments (kind, candidate_version, share, started_by) "
                    + "VALUES ('interleave', \(candidate), 1, 'serve')",
                "UPDATE online_experiments SET stopped_at = now(), stopped_by = 'serve'",
            ]
            #expect(notRefused(refused, on: connection) == [])
        }
    }
}
