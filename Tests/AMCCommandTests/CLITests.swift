import Foundation
import Postgres
import TestSupport
import Testing

/// The `amc` executable as operators meet it: exit statuses, output, and independent Kafka clients.
@Suite(.timeLimit(.minutes(6)))
struct CLITests {
    @Test func migrateTwiceIsANoOpAndAChangedAppliedMigrationIsRefused() async throws {
        let url = try TestPostgres.freshDatabase(migrated: false)
        let folder = try temporaryCopyOfMigrations()
        defer { try? FileManager.default.removeItem(at: folder) }

        let first = try await amc(["migrate", "--database-url", url, "--migrations", folder.path])
        #expect(first.status == 0)
        #expect(
            first.stdout.contains(
                "applied 13 migration(s): 1_ingest, 2_learning, 3_dead_letter_actions, 4_click_events_partitioned, 5_roles, "
                    + "6_weights_sha256, 7_model_architecture, 8_rankings, 9_pairs_changed_notification, 10_online_experiments, "
                    + "11_interleaving_promotion, 12_click_events_ranking_index, 13_catalog_revision"
            ),
            "\(first.stdout)"
        )
        let second = try await amc(["migrate", "--database-url", url, "--migrations", folder.path])
        #expect(second.status == 0)
        #expect(second.stdout.contains("schema is up to date"))

        let file = folder.appendingPathComponent("0001_ingest.sql")
        let changed = try String(contentsOf: file, encoding: .utf8) + "\n-- edited after it was applied\n"
        try changed.write(to: file, atomically: true, encoding: .utf8)
        let refused = try await amc(["migrate", "--database-url", url, "--migrations", folder.path])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("0001_ingest.sql was changed after it was applied"))
        #expect(!refused.stderr.contains("postgres@"), "the database URL is never printed")
    }

    @Test func migrateRefusesAFolderWithAGapBeforeApplyingAnything() async throws {
        let url = try TestPostgres.freshDatabase(migrated: false)
        let folder = try temporaryCopyOfMigrations()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("0003_dead_letter_actions.sql"))

        let refused = try await amc(["migrate", "--database-url", url, "--migrations", folder.path])
        #expect(refused.status != 0)
        let lines = refused.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(refused.stderr)")
        #expect(
            lines.first?.contains(
                "0003_*.sql is missing from the migrations folder (between 0002_learning.sql and "
                    + "0004_click_events_partitioned.sql); nothing was applied"
            ) == true,
            "\(refused.stderr)"
        )
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        let untouched = try connection.query(
            "SELECT to_regclass('schema_migrations') IS NULL AND to_regclass('click_events') IS NULL"
        )
        #expect(try untouched[0].decode(Bool.self, column: 0), "nothing was applied")
    }

    @Test func migrateWithoutAMigrationsFolderNamesWhereItLookedInOneLine() async throws {
        let url = try TestPostgres.freshDatabase(migrated: false)
        // `amc` runs in a temporary folder (no ./Migrations there), and no migrations are installed beside it.
        let result = try await amc(["migrate", "--database-url", url])
        #expect(result.status != 0)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        let line = String(lines.first ?? "")
        #expect(line.hasPrefix("Error: no migrations folder at /"), "\(line)")
        #expect(line.hasSuffix("/share/amc/Migrations; pass --migrations DIR"), "\(line)")
    }

    @Test func commandsAgainstAnUnmigratedDatabaseSayToRunMigrate() async throws {
        let url = try TestPostgres.freshDatabase(migrated: false)
        for command in [["model", "list"], ["audit", "activations"], ["deadletters", "list"]] {
            let result = try await amc(command + ["--database-url", url])
            #expect(result.status != 0, "\(command)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(command): \(result.stderr)")
            #expect(
                lines.first?.hasPrefix("Error: the database is not migrated (relation \"") == true,
                "\(command): \(result.stderr)"
            )
            #expect(lines.first?.hasSuffix(" does not exist): run amc migrate") == true, "\(command): \(result.stderr)")
            #expect(!result.stderr.contains("42P01"), "\(command)")
        }
    }

    @Test func flagBeatsEnvironmentBeatsConfigFile() async throws {
        let url = try TestPostgres.freshDatabase(migrated: false)
        let folder = try temporaryCopyOfMigrations()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("amc.json")
        let unreachable = "postgresql://nobody@127.0.0.1:1/nowhere?connect_timeout=2"
        try #"{"database": {"url": "\#(unreachable)", "migrations": "\#(folder.path)"}}"#
            .write(to: config, atomically: true, encoding: .utf8)

        let fromFile = try await amc(["migrate", "--config", config.path], environment: ["AMC_DATABASE_URL": ""])
        #expect(fromFile.status != 0, "the file's unreachable URL is used when nothing overrides it")
        let fromEnvironment = try await amc(
            ["migrate", "--config", config.path],
            environment: ["AMC_DATABASE_URL": url]
        )
        #expect(fromEnvironment.status == 0, "the environment beats the file: \(fromEnvironment.stderr)")
        let fromFlag = try await amc(
            ["migrate", "--config", config.path, "--database-url", unreachable],
            environment: ["AMC_DATABASE_URL": url]
        )
        #expect(fromFlag.status != 0, "the flag beats the environment")
        #expect(!fromFlag.stderr.contains("nobody@"), "URLs are never printed")
    }

    @Test func missingDatabaseIsOneClearLineAndANonZeroExit() async throws {
        let result = try await amc(["ingest", "--brokers", "127.0.0.1:1"], environment: ["AMC_DATABASE_URL": ""])
        #expect(result.status != 0)
        #expect(
            result.stderr.split(separator: "\n") == ["Error: no database: pass --database-url or set AMC_DATABASE_URL"]
        )
    }

    @Test func ingestStopsOnSIGTERMWithExitZeroAndKeepsWhatItCommitted() async throws {
        let url = try TestPostgres.freshDatabase()
        let broker = try BrokerProcess(arguments: ["broker", "--partitions", "1", "--topic", "clicks"])
        defer { broker.stop() }
        let address = try broker.bootstrapAddress()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("amc-cli-\(UUID().uuidString).tsv")
        defer { try? FileManager.default.removeItem(at: log) }
        try (0..<500).map { "img\($0 % 7)\tquery \($0 % 11)\t1" }.joined(separator: "\n")
            .write(to: log, atomically: true, encoding: .utf8)
        #expect(try await amc(["produce", "--brokers", address, log.path]).status == 0)

        let ingest = Process()
        ingest.executableURL = amcExecutable
        ingest.arguments = ["ingest", "--database-url", url, "--brokers", address, "--log-level", "error"]
        try ingest.run()
        let landed = try await blocking {
            try eventually {
                let connection = try PostgresConnection.connect(url, logger: testLogger)
                defer { connection.close() }
                return try connection.query("SELECT count(*) FROM click_events")[0].decode(Int.self, column: 0) == 500
            }
        }
        #expect(landed)
        ingest.terminate()
        ingest.waitUntilExit()
        #expect(ingest.terminationReason == .exit)
        #expect(ingest.terminationStatus == 0)
    }

    @Test func brokerProduceAndIngestWorkTogetherAndWithAnIndependentClient() async throws {
        let url = try TestPostgres.freshDatabase()
        let broker = try BrokerProcess(arguments: ["broker", "--partitions", "2", "--topic", "clicks"])
        defer { broker.stop() }
        let address = try broker.bootstrapAddress()
        #expect(address.hasPrefix("127.0.0.1:"))

        let log = FileManager.default.temporaryDirectory.appendingPathComponent("amc-cli-\(UUID().uuidString).tsv")
        defer { try? FileManager.default.removeItem(at: log) }
        try "imgA\tRed  Car\t2\r\nimgB\tred car\t1\n\nimgA\tblue car\t0\n".write(
            to: log,
            atomically: true,
            encoding: .utf8
        )
        let produced = try await amc(["produce", "--brokers", address, "--topic", "clicks", log.path])
        #expect(produced.status == 0)
        #expect(produced.stdout.contains("produced 3 message(s) to clicks"))

        // An independent Kafka client (kcat) produces into the same embedded broker.
        let kcat = try await run(
            "/usr/bin/kcat",
            ["-P", "-b", address, "-t", "clicks", "-k", "green car"],
            input: "imgC\tgreen car\t4"
        )
        #expect(kcat.status == 0, "kcat: \(kcat.stderr)")

        let ingested = try await amc([
            "ingest", "--database-url", url, "--brokers", address, "--topic", "clicks", "--until-idle", "2",
        ])
        #expect(ingested.status == 0, "\(ingested.stderr)")

        #expect(try storedPairs(url) == ["red car|imgA": 2, "red car|imgB": 1, "green car|imgC": 4])
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        let dead = try connection.query("SELECT reason_code FROM dead_letters")
        #expect(try dead.map { try $0.decode(String.self, column: 0) } == ["invalid_click_count"])

        #expect(broker.stop() == 0, "the broker stops cleanly on SIGTERM")
    }

    @Test func brokerOnAFixedPortPrintsItFirstAndServesMetadataThroughIt() async throws {
        let port = try freeLoopbackPort()
        let broker = try BrokerProcess(arguments: ["broker", "--topic", "fixed", "--port", "\(port)"])
        defer { broker.stop() }
        #expect(try broker.bootstrapAddress() == "127.0.0.1:\(port)")

        let metadata = try await run("/usr/bin/kcat", ["-L", "-b", "127.0.0.1:\(port)", "-m", "10"])
        #expect(metadata.status == 0, "kcat: \(metadata.stderr)")
        #expect(metadata.stdout.contains("topic \"fixed\""), "kcat: \(metadata.stdout)")

        let clash = try await amc(["broker", "--port", "\(port)", "--log-level", "error"])
        #expect(clash.status != 0)
        #expect(clash.stderr.contains("port \(port) is in use"), "\(clash.stderr)")
        let invalid = try await amc(["broker", "--port", "0"])
        #expect(invalid.status != 0)
        #expect(invalid.stderr.contains("broker.port (--port) must be in 1...65535"), "\(invalid.stderr)")

        #expect(broker.stop() == 0, "the broker and its forwarder stop cleanly on SIGTERM")
    }
}

// MARK: - Helpers

struct RunResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

let amcExecutable = repositoryRoot.appendingPathComponent(".build/debug/amc")

func amc(_ arguments: [String], environment: [String: String] = [:]) async throws -> RunResult {
    try #require(
        FileManager.default.isExecutableFile(atPath: amcExecutable.path),
        "build the amc executable first (swift build --build-tests)"
    )
    return try await run(amcExecutable.path, arguments, environment: environment)
}

func run(
    _ path: String,
    _ arguments: [String],
    environment: [String: String] = [:],
    input: String? = nil
)
    async throws -> RunResult
{
    try await blocking {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("amc-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let err = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        return RunResult(
            status: process.terminationStatus,
            stdout: try String(contentsOf: out, encoding: .utf8),
            stderr: try String(contentsOf: err, encoding: .utf8)
        )
    }
}

func temporaryCopyOfMigrations() throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-migrations-\(UUID().uuidString)")
    try FileManager.default.copyItem(at: repositoryRoot.appendingPathComponent("Migrations"), to: folder)
    return folder
}

/// A 127.0.0.1 port that was free a moment ago (bound to port 0, read back, closed).
func freeLoopbackPort() throws -> Int {
    #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw TestFailure("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw TestFailure("binding 127.0.0.1:0 failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// `amc broker` running in the background.
final class BrokerProcess: Sendable {
    private let process: Process
    private let output: URL

    init(arguments: [String]) throws {
        output = FileManager.default.temporaryDirectory.appendingPathComponent("amc-broker-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process = Process()
        process.executableURL = amcExecutable
        process.arguments = arguments + ["--log-level", "error"]
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// The first line of stdout: the bootstrap address.
    func bootstrapAddress() throws -> String {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first, text.contains("\n") { return String(line) }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TestFailure("amc broker printed no address")
    }

    /// SIGTERM, then the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: output)
        return process.terminationStatus
    }
}
