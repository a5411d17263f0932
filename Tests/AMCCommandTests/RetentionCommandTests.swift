import Foundation
import Postgres
import TestSupport
import Testing

/// `amc retention` as operators meet it: the dry run's JSON, the recorded run, a bad `--keep`.
@Suite(.timeLimit(.minutes(6)))
struct RetentionCommandTests {
    @Test func aDryRunPrintsItsPlanAsJSONAndARealRunIsRecorded() async throws {
        let url = try TestPostgres.freshDatabase()
        let common = ["--database-url", url]
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        try connection.execute(
            """
            INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
            VALUES ('clicks', 0, 0, 'red car', 'img1', 1, '2001-02-03T04:05:06Z')
            """
        )

        let dry = try await amc(["retention", "--dry-run", "--json", "--keep", "90d"] + common)
        #expect(dry.status == 0, "\(dry.stderr)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any])
        for key in [
            "dry_run", "keep", "requested_cutoff", "cutoff", "held_back", "partitions_created", "partitions_dropped",
            "events_removed",
        ] {
            #expect(plan.keys.contains(key), "\(key) missing from \(plan)")
        }
        #expect(plan["dry_run"] as? Bool == true)
        #expect(plan["run"] == nil, "a dry run is not recorded")
        #expect(plan["keep"] as? String == "90d")
        #expect(plan["held_back"] as? Bool == false)
        #expect(plan["events_removed"] as? Int == 1)
        let dropped = try #require(plan["partitions_dropped"] as? [[String: Any]])
        #expect(dropped.map { $0["name"] as? String } == ["click_events_p2001_02"])
        #expect(dropped.first?["events"] as? Int == 1)
        #expect(try count(connection, "SELECT count(*) FROM click_events") == 1)
        #expect(try count(connection, "SELECT count(*) FROM retention_runs") == 0)

        let real = try await amc(["retention", "--keep", "90d", "--actor", "cron"] + common)
        #expect(real.status == 0, "\(real.stderr)")
        #expect(real.stdout.contains("dropped 1 partition(s), 1 event(s)"))
        #expect(real.stdout.contains("recorded as retention run"))
        #expect(try count(connection, "SELECT count(*) FROM click_events") == 0)
        #expect(try count(connection, "SELECT count(*) FROM retention_runs WHERE actor = 'cron'") == 1)

        let bad = try await amc(["retention", "--keep", "ninety days"] + common)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--keep must be a duration"))
    }

    @Test func withNothingToDropEachLineSaysSoInPlainEnglish() async throws {
        let url = try TestPostgres.freshDatabase()
        let dry = try await amc(["retention", "--dry-run", "--keep", "90d", "--database-url", url])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("no partition ends before the cutoff: nothing would be removed\n"), "\(dry.stdout)")
        #expect(!dry.stdout.contains("would removed"), "\(dry.stdout)")
        let real = try await amc(["retention", "--keep", "90d", "--database-url", url])
        #expect(real.status == 0, "\(real.stderr)")
        #expect(real.stdout.contains("no partition ends before the cutoff: nothing removed\n"), "\(real.stdout)")
        let again = try await amc(["retention", "--dry-run", "--keep", "90d", "--database-url", url])
        #expect(again.stdout.contains("partitions: none to create\n"), "\(again.stdout)")
    }

    private func count(_ connection: PostgresConnection, _ sql: PostgresQuery) throws -> Int {
        try connection.query(sql)[0].decode(Int.self, column: 0)
    }
}
