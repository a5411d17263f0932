import Foundation
import Postgres
import TestSupport
import Testing

/// `amc learn --follow` wakes on ingest's commits: a real `amc ingest` batch reaches a following learner through
/// PostgreSQL's notification, long before its re-check interval.
@Suite(.timeLimit(.minutes(10)))
struct LearnWakeCommandTests {
    @Test func anIngestBatchWakesAFollowingLearnerThatPublishesWithoutWaitingForTheInterval() async throws {
        let url = try TestPostgres.freshDatabase()
        let world = FileManager.default.temporaryDirectory.appendingPathComponent("amc-world-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: world) }
        let simulated = try await amc([
            "simulate", "--out", world.path, "--images", "300", "--concepts", "6", "--queries", "60",
            "--held-out", "12", "--shifted",
        ])
        #expect(simulated.status == 0, "\(simulated.stderr)")
        let config = world.appendingPathComponent("amc.json")
        try
            #"{"learn": {"model": {"embedding-dimension": 8, "attention-dimension": 4, "modality-dimension": 4, "hash-buckets": 512}, "bootstrap": {"epochs": 1}, "finetune": {"epochs": 1}, "gate": {"tolerance": 1}, "baselines": false}}"#
            .write(to: config, atomically: true, encoding: .utf8)
        let common = ["--database-url", url, "--config", config.path]
        let imported = try await amc(
            ["catalog", "import"] + common + [world.appendingPathComponent("catalog.jsonl").path]
        )
        #expect(imported.status == 0, "\(imported.stderr)")

        let broker = try BrokerProcess(arguments: ["broker", "--partitions", "2", "--topic", "clicks"])
        defer { broker.stop() }
        let brokers = try broker.bootstrapAddress()
        func ingest(_ file: String) async throws {
            let produced = try await amc([
                "produce", "--brokers", brokers, "--topic", "clicks", world.appendingPathComponent(file).path,
            ])
            #expect(produced.status == 0, "\(produced.stderr)")
            let ingested = try await amc(["ingest"] + common + ["--brokers", brokers, "--until-idle", "2"])
            #expect(ingested.status == 0, "\(ingested.stderr)")
        }
        try await ingest("clicks.tsv")
        let bootstrap = try await amc(["learn", "--bootstrap"] + common)
        #expect(bootstrap.status == 0, "\(bootstrap.stderr)")

        // The re-check interval is ten minutes: within this test only a notification can start a cycle.
        let follower = try LearnerProcess(
            arguments: ["learn", "--follow", "--interval-seconds", "600", "--min-cycle-spacing-seconds", "0.2"]
                + common
        )
        defer { follower.kill() }
        #expect(try eventually(timeout: .seconds(30)) { try leadingLearners(url) == 1 })
        // Its first cycle (at start) finds nothing new.
        try await Task.sleep(for: .seconds(2))
        #expect(try versions(url) == 1)

        try await ingest("clicks-shifted.tsv")
        #expect(try eventually(timeout: .seconds(60)) { try versions(url) == 2 })
        #expect(follower.terminate() == 0, "SIGTERM stops the follower cleanly")
    }
}

/// Learner sessions holding the leadership (a leader listens for changed pairs from the moment it leads).
private func leadingLearners(_ url: String) throws -> Int {
    let connection = try PostgresConnection.connect(url, logger: testLogger)
    defer { connection.close() }
    return try connection.query(
        """
        SELECT count(*)::bigint FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 4279619 AND l.objid = 1 AND l.objsubid = 2
          AND a.application_name LIKE 'amc learn %'
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """
    )[0].decode(Int.self, column: 0)
}

private func versions(_ url: String) throws -> Int {
    let connection = try PostgresConnection.connect(url, logger: testLogger)
    defer { connection.close() }
    return try connection.query("SELECT count(*)::bigint FROM model_versions")[0].decode(Int.self, column: 0)
}
