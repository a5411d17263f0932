import Foundation
import Postgres
import TestSupport
import Testing

/// Least privilege (`Migrations/0005_roles.sql`, Docs/security.md): the real commands each run as a login in their
/// component's role and work, and each role is refused (SQLSTATE 42501) outside its rights. `amc serve`'s role is
/// tested in ServingTests.
@Suite(.timeLimit(.minutes(10)))
struct LeastPrivilegeCommandTests {
    @Test func eachCommandWorksAsItsOwnRoleAndEachRoleIsRefusedOutsideItsRights() async throws {
        let url = try TestPostgres.freshDatabase()
        let world = FileManager.default.temporaryDirectory.appendingPathComponent("amc-roles-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: world) }
        let simulated = try await amc([
            "simulate", "--out", world.path, "--images", "200", "--concepts", "4", "--queries", "40",
            "--held-out", "8",
        ])
        #expect(simulated.status == 0, "\(simulated.stderr)")
        let config = world.appendingPathComponent("amc.json")
        try
            #"{"learn": {"model": {"embedding-dimension": 8, "attention-dimension": 4, "modality-dimension": 4, "hash-buckets": 256}, "bootstrap": {"epochs": 1}, "gate": {"tolerance": 10}}}"#
            .write(to: config, atomically: true, encoding: .utf8)

        try await TestLogin.with(role: "amc_operator", database: url) { op in
            try await TestLogin.with(role: "amc_ingest", database: url) { ingest in
                try await TestLogin.with(role: "amc_learner", database: url) { learner in
                    func common(_ login: TestLogin) -> [String] {
                        ["--database-url", login.url, "--config", config.path]
                    }

                    // Operator: the catalog import.
                    let imported = try await amc(
                        ["catalog", "import"] + common(op) + [world.appendingPathComponent("catalog.jsonl").path]
                    )
                    #expect(imported.status == 0, "\(imported.stderr)")

                    // Ingest: events, pairs, offsets and a dead letter.
                    let broker = try BrokerProcess(arguments: ["broker", "--partitions", "2", "--topic", "clicks"])
                    defer { broker.stop() }
                    let brokers = try broker.bootstrapAddress()
                    let clicks = world.appendingPathComponent("clicks.tsv")
                    try (String(contentsOf: clicks, encoding: .utf8) + "img\tbad click\t0\n")
                        .write(to: clicks, atomically: true, encoding: .utf8)
                    let produced = try await amc(["produce", "--brokers", brokers, "--topic", "clicks", clicks.path])
                    #expect(produced.status == 0, "\(produced.stderr)")
                    let ingested = try await amc(
                        ["ingest"] + common(ingest) + ["--brokers", brokers, "--until-idle", "2"]
                    )
                    #expect(ingested.status == 0, "\(ingested.stderr)")

                    // Ingest again after an operator moved the offsets back: as its own role it skips what is stored.
                    let stored = try storedCounts(url)
                    let owner = try PostgresConnection.connect(url, logger: testLogger)
                    try owner.execute("UPDATE ingest_offsets SET next_offset = 0")
                    owner.close()
                    let reread = try await amc(
                        ["ingest"] + common(ingest) + ["--brokers", brokers, "--until-idle", "2"]
                    )
                    #expect(reread.status == 0, "\(reread.stderr)")
                    #expect(try storedCounts(url) == stored, "a re-read stores nothing twice")

                    // Learner: two bootstraps, each published and activated by the learner.
                    for expected in 1...2 {
                        let learned = try await amc(["learn", "--bootstrap"] + common(learner))
                        #expect(learned.status == 0, "\(learned.stderr)")
                        #expect(learned.stdout.hasPrefix("published version \(expected) (active)"), "\(learned.stdout)")
                    }

                    // Operator: rollback, activate, export, audit, eval, experiments, dead-letter replay and purge.
                    let rolledBack = try await amc(["model", "rollback", "--actor", "alice"] + common(op))
                    #expect(rolledBack.status == 0, "\(rolledBack.stderr)")
                    let activated = try await amc(["model", "activate", "2", "--actor", "alice"] + common(op))
                    #expect(activated.status == 0, "\(activated.stderr)")
                    let exported = try await amc(
                        ["model", "export", "2", "--out", world.appendingPathComponent("version-2.blob").path]
                            + common(op)
                    )
                    #expect(exported.status == 0, "\(exported.stderr)")
                    let audit = try await amc(["audit", "activations", "--json"] + common(op))
                    #expect(audit.status == 0, "\(audit.stderr)")
                    let actors = try #require(
                        try JSONSerialization.jsonObject(with: Data(audit.stdout.utf8)) as? [[String: Any]]
                    ).compactMap { $0["actor"] as? String }
                    #expect(actors == ["learner", "learner", "alice", "alice"])
                    let evaluated = try await amc(
                        ["eval"] + common(op) + ["--labels", world.appendingPathComponent("dev-labels.tsv").path]
                    )
                    #expect(evaluated.status == 0, "\(evaluated.stderr)")
                    // Online experiments of the inactive version: started, replaced and stopped.
                    for command in [
                        ["model", "shadow", "1", "--actor", "alice"], ["model", "interleave", "1", "--share", "0.5"],
                        ["model", "shadow", "1", "--sample", "0.2"], ["model", "interleave", "--stop"],
                    ] {
                        let run = try await amc(command + common(op))
                        #expect(run.status == 0, "\(command): \(run.stderr)")
                    }
                    try await expectOperatorReplaysAndPurges(op, owner: url, config: config)

                    // Learner under learn.promotion = interleaving: a gated bootstrap starts an interleaving
                    // experiment instead of being activated, and the next cycle judges it (no clicks yet).
                    let onTrial = try await amc(
                        ["learn", "--bootstrap", "--promotion", "interleaving"] + common(learner)
                    )
                    #expect(onTrial.status == 0, "\(onTrial.stderr)")
                    // The operator's experiments above took the first ids: read the learner's from the line.
                    let trialPrefix = "published version 3 (not activated, interleaving experiment "
                    #expect(onTrial.stdout.hasPrefix(trialPrefix), "\(onTrial.stdout)")
                    let experiment = onTrial.stdout.dropFirst(trialPrefix.count).prefix { $0.isNumber }
                    let judged = try await amc(["learn", "--once", "--promotion", "interleaving"] + common(learner))
                    #expect(judged.status == 0, "\(judged.stderr)")
                    #expect(
                        !experiment.isEmpty
                            && judged.stdout.hasPrefix(
                                "no new candidate while interleaving experiment \(experiment) running"
                            ),
                        "\(judged.stdout)"
                    )
                    // Operator: the live comparison reads experiments, rankings and click events.
                    let compared = try await amc(["model", "compare", "3", "--json"] + common(op))
                    #expect(compared.status == 0, "\(compared.stderr)")

                    try await expectRefusals(ingest: ingest, learner: learner, operator: op)
                }
            }
        }
    }

    /// A dead letter whose bytes are valid (the database had refused it) is replayed as the operator: its event
    /// and pair land; then it is purged.
    private func expectOperatorReplaysAndPurges(_ op: TestLogin, owner url: String, config: URL) async throws {
        let owner = try PostgresConnection.connect(url, logger: testLogger)
        defer { owner.close() }
        let id = try owner.query(
            """
            INSERT INTO dead_letters (topic, partition, "offset", raw, reason_code, reason)
            VALUES ('replayed', 0, 0, \(Array("img7\treplayed query\t3".utf8)), 'rejected_by_database', 'test')
            RETURNING id
            """
        )[0].decode(Int64.self, column: 0)
        let common = ["--database-url", op.url, "--config", config.path]
        let replayed = try await amc(["deadletters", "replay", "--id", "\(id)", "--actor", "alice"] + common)
        #expect(replayed.status == 0, "\(replayed.stderr)")
        let landed = try owner.query(
            "SELECT clicks FROM relevance_pairs WHERE query = 'replayed query' AND image = 'img7'"
        )
        #expect(try landed.first?.decode(Int.self, column: 0) == 3)
        let purged = try await amc(
            ["deadletters", "purge", "--before", "2100-01-01T00:00:00Z", "--yes", "--actor", "alice"] + common
        )
        #expect(purged.status == 0, "\(purged.stderr)")
        #expect(
            try owner.query("SELECT count(*) FROM dead_letters WHERE id = \(id)")[0].decode(Int.self, column: 0) == 0
        )
    }

    private func expectRefusals(ingest: TestLogin, learner: TestLogin, operator op: TestLogin) async throws {
        let newVersion = """
            INSERT INTO model_versions (kind, format_version, weights, sha256, watermark, training_window,
                                        hyperparameters, metrics, created_by)
            VALUES ('bootstrap', 1, '\\x00', repeat('a', 64), pg_current_snapshot(), '{}', '{}', '{}', 'x')
            """
        let newEvent = """
            INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
            VALUES ('forged', 0, 0, 'q', 'i', 1, now())
            """
        let newPair = """
            INSERT INTO relevance_pairs (query, image, clicks, first_seen, last_seen) VALUES ('q', 'i', 1, now(), now())
            """
        let everyone = [
            "CREATE TABLE public.amc_intruder (a integer)", "CREATE TABLE amc_intruder (a integer)",
            "CREATE FUNCTION amc_intruder() RETURNS integer LANGUAGE sql RETURN 1",
        ]

        let asIngest = try ingest.connect()
        defer { asIngest.close() }
        let ingestRefused =
            everyone + [
                newVersion, "INSERT INTO model_activations (version, actor, reason) VALUES (1, 'ingest', 'no')",
                "SELECT count(*) FROM model_versions", "SELECT count(*) FROM model_activations",
                "INSERT INTO learner_runs (kind, outcome, reason, training_window, metrics, worker, started_at) "
                    + "VALUES ('bootstrap', 'refused', 'x', '{}', '{}', 'x', now())",
                // Only positions may be read back (to skip re-read messages), never what the events say.
                "SELECT query, image, clicks FROM click_events", "UPDATE click_events SET clicks = 2",
                "DELETE FROM click_events",
                "DELETE FROM relevance_pairs", "UPDATE relevance_pairs SET query = 'other'",
                "UPDATE images SET keywords = '{}'", "SELECT raw, reason FROM dead_letters",
                "DELETE FROM dead_letters", "TRUNCATE ingest_offsets", "DELETE FROM ingest_offsets",
                "INSERT INTO click_events (topic, partition, \"offset\", query, image, clicks, event_time, change_xid) "
                    + "VALUES ('forged', 0, 0, 'q', 'i', 1, now(), '1')",
            ]
        #expect(notRefused(ingestRefused, on: asIngest) == [])

        let asLearner = try learner.connect()
        defer { asLearner.close() }
        let learnerRefused =
            everyone + [
                newEvent, newPair, "UPDATE relevance_pairs SET clicks = 0", "DELETE FROM relevance_pairs",
                "UPDATE images SET keywords = '{}'", "DELETE FROM images",
                "INSERT INTO images (image, keywords, region_count, region_dimension, regions) "
                    + "VALUES ('x', '{}', 0, 1, '')",
                "DELETE FROM model_versions", "DELETE FROM model_activations", "TRUNCATE model_versions",
                "UPDATE model_versions SET created_by = 'x'", "SELECT count(*) FROM dead_letters",
                "SELECT count(*) FROM ingest_offsets",
                "INSERT INTO dead_letter_actions (dead_letter_id, topic, "
                    + "partition, \"offset\", action, outcome, detail, actor) "
                    + "VALUES (1, 't', 0, 0, 'purge', 'purged', 'x', 'x')",
            ]
        #expect(notRefused(learnerRefused, on: asLearner) == [])

        let asOperator = try op.connect()
        defer { asOperator.close() }
        let operatorRefused =
            everyone + [
                "DROP TABLE click_events", "DROP TABLE model_activations", "TRUNCATE relevance_pairs",
                "TRUNCATE model_activations", "ALTER TABLE dead_letters ADD COLUMN note text",
                "ALTER TABLE model_activations DISABLE TRIGGER model_activations_append_only",
                "DROP TRIGGER model_activations_append_only ON model_activations", "DELETE FROM click_events",
                "DELETE FROM relevance_pairs", "DELETE FROM model_activations", newVersion,
                "UPDATE ingest_offsets SET next_offset = 0", "DELETE FROM ingest_offsets",
                "SELECT amc_grant_privileges()",
            ]
        #expect(notRefused(operatorRefused, on: asOperator) == [])
    }
}

/// Events, dead letters and the sum of pair clicks, read as the owner.
private func storedCounts(_ url: String) throws -> [Int] {
    let connection = try PostgresConnection.connect(url, logger: testLogger)
    defer { connection.close() }
    let row = try connection.query(
        """
        SELECT (SELECT count(*) FROM click_events), (SELECT count(*) FROM dead_letters),
               (SELECT coalesce(sum(clicks), 0) FROM relevance_pairs)
        """
    )[0]
    return try (0..<3).map { try row.decode(Int.self, column: $0) }
}
