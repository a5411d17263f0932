import Foundation
import TestSupport
import Testing

/// No secret reaches a log: every long-running command that takes the database URL or Kafka properties runs at
/// `trace`, in text and JSON, with a password in the URL and SASL/SSL secrets in the environment and the config
/// file, and nothing it prints contains one.
@Suite(.timeLimit(.minutes(10)))
struct SecretRedactionCommandTests {
    static let databasePassword = "Db-Pa55word-9d1e"
    static let kafkaSecrets = [
        "AMC_KAFKA_PROPERTY_SASL_PASSWORD": "Sasl-Pa55word-41c7",
        "AMC_KAFKA_PROPERTY_SSL_KEY_PASSWORD": "Ssl-Key-Pa55word-7be0",
    ]
    static let fileSecret = "OAuth-Client-Secret-3f5a"

    enum Command: String, CaseIterable {
        case ingest, learnFollow, serve, produce
    }

    static let runs: [(Command, String)] = Command.allCases.flatMap { command in
        ["text", "json"].map { (command, $0) }
    }

    @Test(arguments: runs)
    func noSecretIsPrintedAtTraceLevel(command: Command, format: String) async throws {
        let owner = try TestPostgres.freshDatabase()
        var components = try #require(URLComponents(string: owner))
        components.password = Self.databasePassword
        let url = try #require(components.string)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("amc.json")
        try #"{"kafka": {"properties": {"ssl.keystore.password": "\#(Self.fileSecret)"}}}"#
            .write(to: config, atomically: true, encoding: .utf8)
        let clicks = folder.appendingPathComponent("clicks.tsv")
        try "img1\tred car\t2\nimg2\tblue car\t1\n".write(to: clicks, atomically: true, encoding: .utf8)

        let broker = try BrokerProcess(arguments: ["broker", "--partitions", "1", "--topic", "clicks"])
        defer { broker.stop() }
        let brokers = try broker.bootstrapAddress()
        let common = [
            "--database-url", url, "--brokers", brokers, "--config", config.path, "--log-level", "trace",
            "--log-format", format,
        ]
        let output: String
        switch command {
        case .produce:
            let result = try await amc(["produce", clicks.path] + common, environment: Self.kafkaSecrets)
            #expect(result.status == 0, "\(result.stderr)")
            output = result.stdout + result.stderr
        case .ingest:
            let result = try await amc(["ingest", "--until-idle", "1"] + common, environment: Self.kafkaSecrets)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("IngestService"), "the service's configuration is logged, redacted")
            output = result.stdout + result.stderr
        case .learnFollow:
            output = try await runUntil(
                ["learn", "--follow"] + common,
                printed: "This learner is the leader"
            )
        case .serve:
            output = try await runUntil(["serve", "--port", "0"] + common, printed: "Scoring worker listening")
        }
        let configurationLogged = command == .produce ? "Set librdkafka property" : "Starting service"
        #expect(output.contains(configurationLogged), "the trace logs are there: \(output.prefix(2000))")
        for secret in [Self.databasePassword, Self.fileSecret] + Self.kafkaSecrets.values {
            #expect(!output.contains(secret), "\(command) (\(format)) printed a secret")
        }
    }

    /// Runs `amc` in the background until its output contains `marker`, then stops it with SIGTERM; returns
    /// everything it printed.
    private func runUntil(_ arguments: [String], printed marker: String) async throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let process = Process()
        process.executableURL = amcExecutable
        process.arguments = arguments
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        process.environment = ProcessInfo.processInfo.environment.merging(Self.kafkaSecrets) { _, new in new }
        let handle = try FileHandle(forWritingTo: out)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let seen = try await blocking {
            try eventually {
                let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
                return text.contains(marker) || !process.isRunning
            }
        }
        process.terminate()
        process.waitUntilExit()
        let text = try String(contentsOf: out, encoding: .utf8)
        #expect(seen && text.contains(marker), "\(arguments[0]) never printed \(marker): \(text.suffix(2000))")
        return text
    }
}
