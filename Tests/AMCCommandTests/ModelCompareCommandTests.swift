import ArgumentParser
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AMCCommand

/// `amc model compare N` against a real database: the experiments, rankings and clicks are inserted as the workers
/// and ingest write them (click_events rows directly; the learner's interleaving tests send theirs through a real
/// ingest), and the command's figures are checked against values worked out by hand.
@Suite(.timeLimit(.minutes(8)))
struct ModelCompareCommandTests {
    @Test func compareOptionsParse() throws {
        let plain = try #require(try AMC.parseAsRoot(["model", "compare", "3"]) as? AMC.ModelCommand.Compare)
        #expect(plain.version == 3 && plain.bucketSeconds == 3600 && plain.alpha == 0.05 && !plain.json)
        let set = try #require(
            try AMC.parseAsRoot(["model", "compare", "3", "--bucket", "90s", "--alpha", "0.01", "--json"])
                as? AMC.ModelCommand.Compare
        )
        #expect(set.bucketSeconds == 90 && set.alpha == 0.01 && set.json)
        let seconds = try #require(
            try AMC.parseAsRoot(["model", "compare", "3", "--bucket", "600"]) as? AMC.ModelCommand.Compare
        )
        #expect(seconds.bucketSeconds == 600)
        for (arguments, message) in [
            (["--bucket", "0"], "--bucket must be a positive number of seconds"),
            (["--bucket", "soon"], "--bucket must be a positive number of seconds"),
            (["--alpha", "1"], "--alpha must be in (0, 1), got 1.0"),
        ] {
            do {
                _ = try AMC.parseAsRoot(["model", "compare", "3"] + arguments)
                Issue.record("\(arguments) parsed")
            } catch {
                #expect(AMC.message(for: error).contains(message), "\(AMC.message(for: error))")
            }
        }
    }

    @Test func compareShowsShadowAgreementPerBucketAndTheInterleavingVerdict() async throws {
        let registry = try await RegistryDatabase(bootstraps: 2)
        defer { registry.remove() }
        let connection = try PostgresConnection.connect(registry.url, logger: testLogger)
        defer { connection.close() }
        // Version 2 is active; version 1 is the candidate of one shadow and one interleaving experiment.
        let shadow = try connection.query(
            """
            INSERT INTO online_experiments (kind, candidate_version, share, started_by, reason)
            VALUES ('shadow', 1, 0.5, 'alice', 'compare test') RETURNING id
            """
        )[0].decode(Int64.self, column: 0)
        let interleave = try connection.query(
            """
            INSERT INTO online_experiments (kind, candidate_version, share, started_by, reason)
            VALUES ('interleave', 1, 0.25, 'alice', 'compare test') RETURNING id
            """
        )[0].decode(Int64.self, column: 0)

        // Shadow pairs (served by version 2, re-scored by version 1):
        //   10:05 identical lists                       overlap 1,   τ 1
        //   10:40 first two swapped (1 of 10 pairs)     overlap 1,   τ (9 − 1)/10 = 0.8
        //   11:10 only a, b common, in the same order   overlap 2/5, τ 1
        // Bucket 10:00: overlap 1, τ 0.9; bucket 11:00: overlap 0.4, τ 1; all: overlap 0.8, τ 2.8/3.
        let pairs: [(String, [String], [String])] = [
            ("2026-12-01 10:05:00+00", ["a", "b", "c", "d", "e", "f"], ["a", "b", "c", "d", "e", "f"]),
            ("2026-12-01 10:40:00+00", ["a", "b", "c", "d", "e"], ["b", "a", "c", "d", "e"]),
            ("2026-12-01 11:10:00+00", ["a", "b", "c", "d", "e"], ["x", "y", "z", "a", "b"]),
        ]
        for (servedAt, served, shadowed) in pairs {
            let id = UUID().uuidString.lowercased()
            try connection.execute(
                """
                INSERT INTO rankings (id, served_at, model_version, query, images)
                VALUES (\(id)::uuid, \(servedAt)::timestamptz, 2, 'q', \(served));
                """
            )
            try connection.execute(
                """
                INSERT INTO rankings (id, served_at, model_version, query, images, experiment, shadow_of)
                VALUES (\(UUID().uuidString.lowercased())::uuid, \(servedAt)::timestamptz, 1, 'q', \(shadowed),
                        \(shadow), \(id)::uuid)
                """
            )
        }

        // Interleaved rankings: 9 won by the candidate (its image clicked), 1 lost, 1 tie (one click per team), one
        // without a click (not credited). Sign test: p = 2 · 11/1024 = 0.021484375.
        let images = ["c1", "a1", "c2", "a2"]
        let teams = ["candidate", "active", "candidate", "active"]
        let clicks: [[String]] = Array(repeating: ["c1"], count: 9) + [["a1"], ["c2", "a2"], []]
        var offset = 0
        for clicked in clicks {
            let id = UUID().uuidString.lowercased()
            try connection.execute(
                """
                INSERT INTO rankings (id, served_at, model_version, query, images, teams, experiment)
                VALUES (\(id)::uuid, now(), 2, 'q', \(images), \(teams), \(interleave))
                """
            )
            for image in clicked {
                try connection.execute(
                    """
                    INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time, ranking)
                    VALUES ('compare-test', 0, \(offset), 'q', \(image), 1, now(), \(id))
                    """
                )
                offset += 1
            }
        }

        let json = try await amc(["model", "compare", "1", "--json"] + registry.common)
        #expect(json.status == 0, "\(json.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(report["candidate"] as? Int == 1)
        #expect(report["active_version"] as? Int == 2)
        let experiments = try #require(report["experiments"] as? [[String: Any]])
        #expect(experiments.count == 2)
        let agreement = try #require(experiments.first?["shadow"] as? [String: Any])
        #expect(agreement["paired_rankings"] as? Int == 3)
        #expect(abs((agreement["top5_overlap"] as? Double ?? 0) - 0.8) < 1e-9)
        #expect(abs((agreement["kendall_tau"] as? Double ?? 0) - 2.8 / 3) < 1e-9)
        let buckets = try #require(agreement["buckets"] as? [[String: Any]])
        #expect(buckets.compactMap { $0["start"] as? String } == ["2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z"])
        #expect(buckets.compactMap { $0["paired_rankings"] as? Int } == [2, 1])
        #expect(abs((buckets[0]["kendall_tau"] as? Double ?? 0) - 0.9) < 1e-9)
        #expect(abs((buckets[1]["top5_overlap"] as? Double ?? 0) - 0.4) < 1e-9)
        let result = try #require(experiments.last?["interleaving"] as? [String: Any])
        #expect(result["rankings"] as? Int == 12)
        #expect(result["clicked_rankings"] as? Int == 11)
        #expect([result["wins"], result["losses"], result["ties"]].compactMap { $0 as? Int } == [9, 1, 1])
        #expect(abs((result["p_value"] as? Double ?? 0) - 0.021_484_375) < 1e-12)
        #expect(result["verdict"] as? String == "wins")
        #expect(result["served_against"] as? [Int] == [2])

        // At α = 0.01 the same figures are no significant difference; half-hour buckets split 10:05 and 10:40.
        let strict = try await amc(["model", "compare", "1", "--alpha", "0.01", "--bucket", "30m"] + registry.common)
        #expect(strict.status == 0, "\(strict.stderr)")
        #expect(strict.stdout.contains("no significant difference"), "\(strict.stdout)")
        #expect(strict.stdout.contains("2026-12-01T10:30:00Z"), "\(strict.stdout)")
        let row = try #require(strict.stdout.split(separator: "\n").first { $0.hasPrefix("12 ") })
        #expect(row.split(separator: " ").prefix(6).map(String.init) == ["12", "11", "9", "1", "1", "0.02148"])
        let all = try #require(strict.stdout.split(separator: "\n").first { $0.hasPrefix("all ") })
        #expect(all.split(separator: " ").map(String.init) == ["all", "3", "0.800", "0.933"])

        let missing = try await amc(["model", "compare", "9"] + registry.common)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("model version 9 does not exist"), "\(missing.stderr)")
    }
}
