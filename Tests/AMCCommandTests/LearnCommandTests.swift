import Foundation
import Postgres
import TestSupport
import Testing

/// The learning loop through the `amc` executable: simulate → catalog import → produce/ingest → learn → eval, and
/// two `amc learn --follow` processes sharing one leadership.
@Suite(.timeLimit(.minutes(10)))
struct LearnCommandTests {
    @Test func theLearningLoopRunsEndToEndAndASecondFollowerTakesOverWhenTheLeaderIsKilled() async throws {
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
            #"{"learn": {"model": {"embedding-dimension": 8, "attention-dimension": 4, "modality-dimension": 4, "hash-buckets": 512}, "bootstrap": {"epochs": 1}, "finetune": {"epochs": 1}, "gate": {"tolerance": 1}}}"#
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

        // Fine-tuning before any version is one clear error line.
        let early = try await amc(["learn", "--once"] + common)
        #expect(early.status != 0)
        #expect(early.stderr.contains("no active model version: bootstrap one first"), "\(early.stderr)")

        let bootstrap = try await amc(["learn", "--bootstrap"] + common)
        #expect(bootstrap.status == 0, "\(bootstrap.stderr)")
        #expect(bootstrap.stdout.hasPrefix("published version 1 (active): "), "\(bootstrap.stdout)")
        let idle = try await amc(["learn", "--once"] + common)
        #expect(idle.status == 0, "\(idle.stderr)")
        #expect(idle.stdout.contains("nothing to learn: 0 training pairs changed"), "\(idle.stdout)")

        let evaluated = try await amc(
            ["eval"] + common + ["--labels", world.appendingPathComponent("dev-labels.tsv").path, "--json"]
        )
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as? [String: Any]
        )
        #expect(report["version"] as? Int == 1)
        let rows = try #require(report["rows"] as? [[String: Any]])
        #expect(
            rows.compactMap { $0["method"] as? String } == [
                "amc", "click_prior", "keyword_only", "image_only", "late_fusion_fixed",
            ]
        )
        let metrics = try #require(rows.first?["metrics"] as? [String: Any])
        #expect(metrics["queries"] as? Int == 12)
        for key in [
            "ndcg5", "ndcg10", "ndcg15", "ndcg20", "ndcg25", "precision5", "mean_average_precision",
            "mean_reciprocal_rank", "auc",
        ] {
            let value = try #require(metrics[key] as? Double, "\(key)")
            #expect((0...1).contains(value), "\(key) = \(value)")
        }

        // Two followers: exactly one leads; SIGKILL it and the other takes over and learns the new clicks.
        let followArguments = ["learn", "--follow", "--interval-seconds", "0.3", "--log-level", "info"] + common
        let first = try LearnerProcess(arguments: followArguments)
        defer { first.kill() }
        #expect(try eventually(timeout: .seconds(30)) { try leaders(url).count == 1 })
        let second = try LearnerProcess(arguments: followArguments)
        defer { second.kill() }
        try await Task.sleep(for: .seconds(1))
        #expect(try leaders(url) == ["amc learn \(LearnerProcess.host) pid \(first.pid)"])

        first.kill()
        #expect(
            try eventually(timeout: .seconds(30)) {
                try leaders(url) == ["amc learn \(LearnerProcess.host) pid \(second.pid)"]
            }
        )
        try await ingest("clicks-shifted.tsv")
        #expect(try eventually(timeout: .seconds(60)) { try versionCreators(url).count == 2 })
        #expect(try versionCreators(url).last == "\(LearnerProcess.host) pid \(second.pid)")
        #expect(second.terminate() == 0, "SIGTERM stops the follower cleanly")

        // A second architecture through the same commands: bootstrapped, evaluated as its own row.
        let lateFusion = try await amc(["learn", "--bootstrap", "--architecture", "late_fusion"] + common)
        #expect(lateFusion.status == 0, "\(lateFusion.stderr)")
        #expect(lateFusion.stdout.hasPrefix("published version 3 (active): "), "\(lateFusion.stdout)")
        let unknown = try await amc(["learn", "--bootstrap", "--architecture", "no_such_architecture"] + common)
        #expect(unknown.status != 0 && unknown.stderr.contains("learn.architecture"), "\(unknown.stderr)")
        let evaluatedLateFusion = try await amc(
            ["eval"] + common + ["--labels", world.appendingPathComponent("dev-labels.tsv").path, "--json"]
        )
        #expect(evaluatedLateFusion.status == 0, "\(evaluatedLateFusion.stderr)")
        let lateFusionReport = try #require(
            try JSONSerialization.jsonObject(with: Data(evaluatedLateFusion.stdout.utf8)) as? [String: Any]
        )
        #expect(lateFusionReport["version"] as? Int == 3)
        let lateFusionRows = try #require(lateFusionReport["rows"] as? [[String: Any]])
        #expect(lateFusionRows.first?["method"] as? String == "late_fusion")

        // Explaining and auditing with the late-fusion version active use its own architecture.
        let click = try #require(
            try String(contentsOf: world.appendingPathComponent("clicks.tsv"), encoding: .utf8)
                .split(separator: "\n").first?.split(separator: "\t")
        )
        let (image, query) = (String(click[0]), String(click[1]))
        let explained = try await amc(["explain", query, image, "--json"] + common)
        #expect(explained.status == 0, "\(explained.stderr)")
        let explainedBody = try #require(
            try JSONSerialization.jsonObject(with: Data(explained.stdout.utf8)) as? [String: Any]
        )
        #expect(explainedBody["model_version"] as? Int == 3)
        let explanation = (explainedBody["results"] as? [[String: Any]])?.first?["explanation"] as? [String: Any]
        #expect(explanation?["architecture"] as? String == "late_fusion")
        let audited = try await amc(["audit", "pair", query, image, "--json"] + common)
        #expect(audited.status == 0, "\(audited.stderr)")
        let pair = try #require(try JSONSerialization.jsonObject(with: Data(audited.stdout.utf8)) as? [String: Any])
        #expect(pair["active_version"] as? Int == 3)
        let weights = [pair["visual_weight"], pair["language_weight"]].compactMap { $0 as? Double }
        #expect(weights.count == 2 && abs(weights.reduce(0, +) - 1) < 1e-5, "\(pair)")
    }
}

/// Sessions holding the learner leadership lock, by `application_name`.
private func leaders(_ url: String) throws -> [String] {
    let connection = try PostgresConnection.connect(url, logger: testLogger)
    defer { connection.close() }
    return try connection.query(
        """
        SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 4279619 AND l.objid = 1 AND l.objsubid = 2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """
    ).map { try $0.decode(String.self, column: 0) }
}

private func versionCreators(_ url: String) throws -> [String] {
    let connection = try PostgresConnection.connect(url, logger: testLogger)
    defer { connection.close() }
    return try connection.query("SELECT created_by FROM model_versions ORDER BY version")
        .map { try $0.decode(String.self, column: 0) }
}

/// `amc learn --follow` running in the background (output discarded).
final class LearnerProcess: Sendable {
    static let host = ProcessInfo.processInfo.hostName
    private let process: Process

    init(arguments: [String]) throws {
        process = Process()
        process.executableURL = amcExecutable
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// SIGKILL: the process dies without any cleanup, as in a crash.
    func kill() {
        guard process.isRunning else { return }
        _ = Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then the exit status.
    func terminate() -> Int32 {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        return process.terminationStatus
    }
}
