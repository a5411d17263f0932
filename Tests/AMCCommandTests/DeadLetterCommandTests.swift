import Foundation
import Postgres
import TestSupport
import Testing

/// `amc deadletters` as operators meet it: list, show (bytes printed safely), replay, purge, exit statuses, JSON.
@Suite(.timeLimit(.minutes(6)))
struct DeadLetterCommandTests {
    @Test func deadLettersAreListedShownReplayedAndPurgedFromTheCommandLine() async throws {
        let url = try TestPostgres.freshDatabase()
        let common = ["--database-url", url]
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        // Valid today (refused by an older limit), invalid, and not UTF-8 with a terminal escape sequence in it.
        let fixable = try insert(connection, offset: 10, raw: Array("imgA\tRed Car\t2".utf8), reason: "too_large")
        let wrong = try insert(
            connection,
            offset: 11,
            raw: Array("imgB\tred car\tzero".utf8),
            reason: "invalid_click_count"
        )
        let hostile = try insert(
            connection,
            offset: 12,
            raw: [0x1B, 0x5B, 0x32, 0x4A, 0xFF, 0x09],
            reason: "invalid_utf8"
        )

        let list = try await amc(["deadletters", "list", "--json"] + common)
        #expect(list.status == 0, "\(list.stderr)")
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(listed.compactMap { $0["id"] as? Int } == [hostile, wrong, fixable].map(Int.init))
        for row in listed {
            for key in ["id", "topic", "partition", "offset", "received_at", "reason_code", "reason", "state", "size"] {
                #expect(row.keys.contains(key), "\(key) missing from \(row)")
            }
            #expect(row["state"] as? String == "pending")
        }
        let table = try await amc(["deadletters", "list", "--reason", "invalid_utf8"] + common)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.hasPrefix("id  topic   partition  offset  received"), "\(table.stdout)")
        #expect(table.stdout.contains("1 of 1 pending dead letter(s)"), "\(table.stdout)")

        // Bytes that are not UTF-8 are shown as hex, and never reach the terminal raw.
        let shown = try await amc(["deadletters", "show", "\(hostile)"] + common)
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains("6 byte(s), not valid UTF-8 (hex):"), "\(shown.stdout)")
        #expect(shown.stdout.contains("1b 5b 32 4a ff 09"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("\u{1B}"))
        let shownJSON = try await amc(["deadletters", "show", "\(hostile)", "--json"] + common)
        let detail = try #require(try JSONSerialization.jsonObject(with: Data(shownJSON.stdout.utf8)) as? [String: Any])
        #expect(detail["raw_hex"] as? String == "1b5b324aff09")
        #expect(detail["raw_base64"] as? String == Data([0x1B, 0x5B, 0x32, 0x4A, 0xFF, 0x09]).base64EncodedString())
        #expect(detail["raw_text"] is NSNull)
        #expect(detail["offset"] as? Int == 12)
        #expect((detail["actions"] as? [Any])?.isEmpty == true)
        let text = try await amc(["deadletters", "show", "\(fixable)"] + common)
        #expect(text.stdout.contains(#""imgA\tRed Car\t2""#), "\(text.stdout)")

        let unknown = try await amc(["deadletters", "show", "999"] + common)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.split(separator: "\n") == ["Error: dead letter 999 does not exist"])
        let neither = try await amc(["deadletters", "replay"] + common)
        #expect(neither.status != 0)
        #expect(neither.stderr.contains("pass either --id ID (repeatable) or --all"), "\(neither.stderr)")

        // Replay one by id: it lands once; again it is a no-op; an unknown id is an error.
        let replayed = try await amc(
            ["deadletters", "replay", "--id", "\(fixable)", "--actor", "alice", "--json"] + common
        )
        #expect(replayed.status == 0, "\(replayed.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(replayed.stdout.utf8)) as? [String: Any])
        #expect(report["replayed"] as? Int == 1)
        #expect(report["events"] as? Int == 1)
        let again = try await amc(["deadletters", "replay", "--id", "\(fixable)"] + common)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("already_resolved"), "\(again.stdout)")
        #expect(try storedPairs(url) == ["red car|imgA": 2])
        let missing = try await amc(["deadletters", "replay", "--id", "999"] + common)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no dead letter with id 999"), "\(missing.stderr)")

        // The rest are still invalid: they stay pending, each attempt recorded with the current reason.
        let rest = try await amc(["deadletters", "replay", "--all", "--actor", "bob"] + common)
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(rest.stdout.hasPrefix("replayed 0 of 2 dead letter(s): 2 still invalid"), "\(rest.stdout)")
        let everything = try await amc(["deadletters", "list", "--state", "all", "--json"] + common)
        let states = try #require(
            try JSONSerialization.jsonObject(with: Data(everything.stdout.utf8)) as? [[String: Any]]
        )
        #expect(states.compactMap { $0["state"] as? String } == ["pending", "pending", "replayed"])

        // Purge: a dry run unless --yes; only resolved rows by default; the history survives the row.
        let nothing = try await amc(["deadletters", "purge", "--before", "2000-01-01T00:00:00Z"] + common)
        #expect(nothing.status == 0, "\(nothing.stderr)")
        #expect(nothing.stdout.hasPrefix("would delete 0 resolved dead letter(s)"), "\(nothing.stdout)")
        let dryRun = try await amc(["deadletters", "purge", "--before", "0s", "--json"] + common)
        let preview = try #require(try JSONSerialization.jsonObject(with: Data(dryRun.stdout.utf8)) as? [String: Any])
        #expect(preview["dry_run"] as? Bool == true)
        #expect(preview["deleted"] as? Int == 1)
        let purged = try await amc(["deadletters", "purge", "--before", "0s", "--yes", "--actor", "carol"] + common)
        #expect(purged.status == 0, "\(purged.stderr)")
        #expect(purged.stdout.hasPrefix("deleted 1 resolved dead letter(s)"), "\(purged.stdout)")
        let history = try await amc(["deadletters", "show", "\(fixable)", "--json"] + common)
        #expect(history.status == 0, "\(history.stderr)")
        let gone = try #require(try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [String: Any])
        #expect(gone["state"] as? String == "purged")
        #expect(gone["offset"] as? Int == 10)
        let actions = try #require(gone["actions"] as? [[String: Any]])
        #expect(actions.compactMap { $0["outcome"] as? String } == ["replayed", "purged"])
        #expect(actions.compactMap { $0["actor"] as? String } == ["alice", "carol"])
        let badCutoff = try await amc(["deadletters", "purge", "--before", "yesterday"] + common)
        #expect(badCutoff.status != 0)
        #expect(badCutoff.stderr.contains("--before must be an RFC 3339 time"), "\(badCutoff.stderr)")
    }
}

/// Inserts a pending dead letter at `clicks`/0/`offset` and returns its id.
private func insert(_ connection: PostgresConnection, offset: Int64, raw: [UInt8], reason: String) throws -> Int64 {
    try connection.query(
        """
        INSERT INTO dead_letters (topic, partition, "offset", raw, reason_code, reason)
        VALUES ('clicks', 0, \(offset), \(raw), \(reason), \(reason + ": refused at ingest"))
        RETURNING id
        """
    )[0].decode(Int64.self, column: 0)
}
