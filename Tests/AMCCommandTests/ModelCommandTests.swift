import Foundation
import Postgres
import TestSupport
import Testing

/// `amc model` and `amc audit` as operators meet them: list/show/activate/rollback and the provenance views.
@Suite(.timeLimit(.minutes(8)))
struct ModelCommandTests {
    @Test func versionsAreListedActivatedRolledBackAndAuditedFromTheCommandLine() async throws {
        let registry = try await RegistryDatabase(bootstraps: 2)
        defer { registry.remove() }
        let (common, query, image) = (registry.common, registry.query, registry.image)

        let list = try await amc(["model", "list", "--json"] + common)
        #expect(list.status == 0, "\(list.stderr)")
        let versions = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(versions.compactMap { $0["version"] as? Int } == [1, 2])
        #expect(versions.compactMap { $0["active"] as? Bool } == [false, true])
        for version in versions {
            for key in ["version", "sha256", "parent", "created_at", "metrics", "active"] {
                #expect(version.keys.contains(key), "\(key) missing from \(version)")
            }
            #expect((version["sha256"] as? String)?.count == 64)
            #expect(version["architecture"] as? String == "amc")
        }
        let table = try await amc(["model", "list"] + common)
        #expect(table.stdout.hasPrefix("version  architecture  kind"), "\(table.stdout)")

        // Rollback without --to returns to the version active before; activating the active one is refused.
        let rollback = try await amc(["model", "rollback", "--reason", "drill", "--actor", "alice"] + common)
        #expect(rollback.status == 0, "\(rollback.stderr)")
        #expect(rollback.stdout.hasPrefix("rolled back to version 1 (was 2)"), "\(rollback.stdout)")
        let again = try await amc(["model", "activate", "1"] + common)
        #expect(again.status != 0)
        #expect(again.stderr.contains("model version 1 is already active"), "\(again.stderr)")
        let missing = try await amc(["model", "activate", "7"] + common)
        #expect(missing.stderr.contains("model version 7 does not exist"), "\(missing.stderr)")
        let forward = try await amc(["model", "rollback", "--to", "2", "--actor", "bob"] + common)
        #expect(forward.status == 0, "\(forward.stderr)")

        let activations = try await amc(["audit", "activations", "--json"] + common)
        let log = try #require(
            try JSONSerialization.jsonObject(with: Data(activations.stdout.utf8)) as? [[String: Any]]
        )
        #expect(log.compactMap { $0["version"] as? Int } == [1, 2, 1, 2])
        #expect(log.compactMap { $0["actor"] as? String } == ["learner", "learner", "alice", "bob"])
        #expect(log.map { $0["previous_version"] as? Int } == [nil, 1, 2, 1])
        #expect(log[2]["reason"] as? String == "drill")

        let show = try await amc(["audit", "version", "2", "--json"] + common)
        let detail = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        #expect(detail["lineage"] as? [Int] == [2])
        #expect(detail["architecture"] as? String == "amc")
        #expect((detail["activations"] as? [[String: Any]])?.count == 2)
        #expect((detail["training_window"] as? [String: Any])?["incremental"] as? Bool == false)

        let audit = try await amc(["audit", "pair", query, image, "--json"] + common)
        #expect(audit.status == 0, "\(audit.stderr)")
        let pair = try #require(try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [String: Any])
        let events = try #require(pair["events"] as? [[String: Any]])
        #expect(events.count == 1)
        #expect(events.first?["topic"] as? String == "cli-test")
        #expect(pair["active_version"] as? Int == 2)
        let visual = try #require(pair["visual_weight"] as? Double)
        let language = try #require(pair["language_weight"] as? Double)
        #expect(abs(visual + language - 1) < 1e-5)
        let trainedBy = try #require(pair["trained_by"] as? [Int])
        #expect(trainedBy == ((pair["held_out"] as? Bool) == true ? [] : [1, 2]))
        let text = try await amc(["audit", "pair", query, image] + common)
        #expect(text.stdout.contains("cli-test/0/0"), "\(text.stdout)")
    }

    /// `amc audit pair` shows the rankings a pair's clicks came from (id, version, position, time), in text and JSON,
    /// and counts the clicks whose ranking id matches no recorded ranking as unattributed.
    @Test func auditPairShowsTheRankingsItsClicksCameFrom() async throws {
        let registry = try await RegistryDatabase(bootstraps: 1)
        defer { registry.remove() }
        let (common, query, image) = (registry.common, registry.query, registry.image)
        let recorded = "01938a5c-7d2e-7b3a-9c1d-2e4f6a8b0c1d"
        let connection = try PostgresConnection.connect(registry.url, logger: testLogger)
        defer { connection.close() }
        // What a worker records and what ingest lands for two clicks: one on a recorded ranking, one on another id.
        try connection.execute(
            """
            INSERT INTO rankings (id, served_at, model_version, query, images)
            VALUES (\(recorded)::uuid, '2026-12-01 10:00:00+00', 1, \(query), ARRAY['other', \(image)])
            """
        )
        try connection.execute(
            """
            INSERT INTO click_events (topic, partition, "offset", query, image, clicks, position, event_time, ranking)
            VALUES ('audit-test', 0, 0, \(query), \(image), 1, 1, now(), \(recorded)),
                   ('audit-test', 0, 1, \(query), \(image), 2, 0, now(), 'elsewhere-7')
            """
        )

        let json = try await amc(["audit", "pair", query, image, "--json"] + common)
        #expect(json.status == 0, "\(json.stderr)")
        let pair = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let rankings = try #require(pair["rankings"] as? [[String: Any]])
        #expect(rankings.count == 2)
        #expect(rankings.first?["ranking"] as? String == recorded)
        #expect(rankings.first?["attributed"] as? Bool == true)
        #expect(rankings.first?["version"] as? Int == 1)
        #expect(rankings.first?["position"] as? Int == 1)
        #expect(rankings.first?["served_at"] as? String == "2026-12-01T10:00:00Z")
        #expect(rankings.last?["ranking"] as? String == "elsewhere-7")
        #expect(rankings.last?["attributed"] as? Bool == false)
        #expect(rankings.last?["version"] == nil)
        #expect(pair["unattributed_events"] as? Int == 1)

        let text = try await amc(["audit", "pair", query, image] + common)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("1 events from 1 recorded ranking(s); 1 unattributed"), "\(text.stdout)")
        let row = try #require(text.stdout.split(separator: "\n").first { $0.contains(recorded) })
        #expect(row.split(separator: " ").prefix(3) == [Substring(recorded), "1", "1"], "\(row)")
        let other = try #require(text.stdout.split(separator: "\n").first { $0.contains("elsewhere-7") })
        #expect(
            other.split(separator: " ").map(String.init) == ["elsewhere-7", "unattributed", "-", "-", "-", "1", "2"]
        )
    }

    /// `sha256sum` of the exported blob is the sha256 that `model show` prints and a scoring worker serves.
    @Test func theExportedBlobsSHA256SumIsWhatModelShowAndTheWorkerReport() async throws {
        let registry = try await RegistryDatabase(bootstraps: 1)
        defer { registry.remove() }
        let file = registry.world.appendingPathComponent("version-1.blob")

        let exported = try await amc(["model", "export", "1", "--out", file.path] + registry.common)
        #expect(exported.status == 0, "\(exported.stderr)")
        let summed = try await run("/usr/bin/sha256sum", [file.path])
        #expect(summed.status == 0, "\(summed.stderr)")
        let digest = try #require(summed.stdout.split(separator: " ").first.map(String.init))
        #expect(digest.count == 64)
        #expect(exported.stdout.contains("sha256 \(digest)"), "\(exported.stdout)")

        let show = try await amc(["model", "show", "1", "--json"] + registry.common)
        #expect(show.status == 0, "\(show.stderr)")
        let detail = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        #expect(detail["sha256"] as? String == digest)

        let port = try freeLoopbackPort()
        let serve = Process()
        serve.executableURL = amcExecutable
        serve.arguments = ["serve", "--port", "\(port)", "--log-level", "error"] + registry.common
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        defer {
            if serve.isRunning {
                serve.terminate()
                serve.waitUntilExit()
            }
        }
        let modelURL = URL(string: "http://127.0.0.1:\(port)/v1/model")!
        var served: [String: Any]?
        let deadline = ContinuousClock.now + .seconds(60)
        while served == nil, ContinuousClock.now < deadline {
            if let body = try? await httpGet(modelURL) {
                served = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let model = try #require(served, "the worker serves /v1/model")
        #expect(model["version"] as? Int == 1)
        #expect(model["sha256"] as? String == digest)

        let missing = try await amc(["model", "export", "9", "--out", file.path] + registry.common)
        #expect(missing.status != 0)
        #expect(missing.stderr == "Error: model version 9 does not exist\n", "\(missing.stderr)")
    }

    /// A version whose stored blob fails its sha256 is neither activated nor rolled back to: one line, nothing
    /// recorded. Its export still writes the stored bytes (for inspection) and fails.
    @Test func activatingOrRollingBackToAVersionThatFailsItsSHA256IsRefused() async throws {
        let registry = try await RegistryDatabase(bootstraps: 2)
        defer { registry.remove() }
        let common = registry.common
        try registry.alterVersions(
            "UPDATE model_versions SET weights = set_byte(weights, 100, get_byte(weights, 100) # 1) WHERE version = 1"
        )
        #expect(try registry.count("SELECT count(*) FROM model_activations") == 2)

        for command in [["model", "activate", "1"], ["model", "rollback"], ["model", "rollback", "--to", "1"]] {
            let refused = try await amc(command + common)
            #expect(refused.status != 0, "\(command)")
            let lines = refused.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(command): \(refused.stderr)")
            #expect(
                lines.first?.hasPrefix(
                    "Error: refusing to activate model version 1: weights fail their sha256 check (stored "
                ) == true,
                "\(command): \(refused.stderr)"
            )
        }
        #expect(try registry.count("SELECT count(*) FROM model_activations") == 2, "nothing recorded")
        let log = try await amc(["audit", "activations", "--json"] + common)
        let activations = try #require(
            try JSONSerialization.jsonObject(with: Data(log.stdout.utf8)) as? [[String: Any]]
        )
        #expect(activations.last?["version"] as? Int == 2)

        let file = registry.world.appendingPathComponent("version-1.blob")
        let exported = try await amc(["model", "export", "1", "--out", file.path] + common)
        #expect(exported.status != 0)
        #expect(exported.stderr.contains("but its weights fail their sha256 check"), "\(exported.stderr)")
        #expect(FileManager.default.fileExists(atPath: file.path))
    }

    /// Activation reasons and actors are free text: `audit activations` and `model show` print them escaped, as
    /// `deadletters show` prints message bytes, so they cannot drive the terminal or forge a line.
    @Test func activationReasonsPrintEscaped() async throws {
        let registry = try await RegistryDatabase(bootstraps: 2)
        defer { registry.remove() }
        let reason = "drill\u{1B}[2J\u{07}\nforged\u{202E}line"
        let actor = "eve\u{1B}]0;title\u{07}"
        let back = try await amc(["model", "rollback", "--reason", reason, "--actor", actor] + registry.common)
        #expect(back.status == 0, "\(back.stderr)")

        let expectedReason = #"drill\u{1b}[2J\u{7}\nforged\u{202e}line"#
        let expectedActor = #"eve\u{1b}]0;title\u{7}"#
        for command in [["audit", "activations"], ["model", "show", "1"]] {
            let printed = try await amc(command + registry.common)
            #expect(printed.status == 0, "\(command): \(printed.stderr)")
            #expect(printed.stdout.contains(expectedReason), "\(command): \(printed.stdout)")
            #expect(printed.stdout.contains(expectedActor), "\(command): \(printed.stdout)")
            #expect(!printed.stdout.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{07}" || $0 == "\u{202E}" })
            #expect(!printed.stdout.contains("\nforged"), "\(command)")
        }
        // JSON keeps the text exactly (JSON escapes it).
        let json = try await amc(["audit", "activations", "--json"] + registry.common)
        let log = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(log.last?["reason"] as? String == reason)
    }
}

/// A migrated database with a small simulated catalog and clicks, and bootstrap versions trained on them by `amc
/// learn` (each activated by the learner: the last is active).
struct RegistryDatabase {
    let url: String
    let world: URL
    /// `--database-url` and `--config` (the small model settings).
    let common: [String]
    /// The first click's query and image.
    let query: String
    let image: String

    init(bootstraps: Int) async throws {
        url = try TestPostgres.freshDatabase()
        world = FileManager.default.temporaryDirectory.appendingPathComponent("amc-world-\(UUID().uuidString)")
        let simulated = try await amc([
            "simulate", "--out", world.path, "--images", "300", "--concepts", "6", "--queries", "60", "--held-out",
            "12",
        ])
        #expect(simulated.status == 0, "\(simulated.stderr)")
        let config = world.appendingPathComponent("amc.json")
        try
            #"{"learn": {"model": {"embedding-dimension": 8, "attention-dimension": 4, "modality-dimension": 4, "hash-buckets": 512}, "bootstrap": {"epochs": 1}, "gate": {"tolerance": 1}, "baselines": false}}"#
            .write(to: config, atomically: true, encoding: .utf8)
        common = ["--database-url", url, "--config", config.path]
        let imported = try await amc(
            ["catalog", "import"] + common + [world.appendingPathComponent("catalog.jsonl").path]
        )
        #expect(imported.status == 0, "\(imported.stderr)")
        (query, image) = try loadClicks(url, from: world.appendingPathComponent("clicks.tsv"))
        for seed in 1...bootstraps {
            let learned = try await amc(["learn", "--bootstrap", "--seed", "\(seed)"] + common)
            #expect(learned.status == 0, "\(learned.stderr)")
        }
    }

    func remove() {
        try? FileManager.default.removeItem(at: world)
    }

    /// Runs `statements` as the database owner, with the immutability trigger of `model_versions` off.
    func alterVersions(_ statements: PostgresQuery) throws {
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        try connection.execute(script: "ALTER TABLE model_versions DISABLE TRIGGER model_versions_immutable")
        try connection.execute(statements)
        try connection.execute(script: "ALTER TABLE model_versions ENABLE TRIGGER model_versions_immutable")
    }

    func count(_ sql: PostgresQuery) throws -> Int {
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        return try connection.query(sql)[0].decode(Int.self, column: 0)
    }
}

/// Loads a triad file as one click event per line plus its pair (what ingest would write), in one transaction.
/// Returns the first line's (query, image).
func loadClicks(_ url: String, from file: URL) throws -> (String, String) {
    let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t") }
    let connection = try PostgresConnection.connect(url, logger: testLogger)
    defer { connection.close() }
    try connection.execute(script: "BEGIN")
    for (offset, fields) in lines.enumerated() {
        let (image, query, clicks) = (String(fields[0]), String(fields[1]), Int(fields[2])!)
        try connection.execute(
            """
            INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
            VALUES ('cli-test', 0, \(offset), \(query), \(image), \(clicks), now())
            """
        )
        try connection.execute(
            """
            INSERT INTO relevance_pairs (query, image, clicks, click_events, first_seen, last_seen)
            VALUES (\(query), \(image), \(clicks), 1, now(), now())
            """
        )
    }
    try connection.execute(script: "COMMIT")
    return (String(lines[0][1]), String(lines[0][0]))
}
