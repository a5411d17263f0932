import Foundation
import Postgres
import TestSupport
import Testing

/// `amc produce` with lines Kafka cannot take: each is named by file and line, everything else is delivered.
@Suite(.timeLimit(.minutes(6)))
struct ProduceCommandTests {
    @Test func anOversizedLineIsReportedAndSkippedAndTheLinesAroundItAreDelivered() async throws {
        let url = try TestPostgres.freshDatabase()
        let broker = try BrokerProcess(arguments: ["broker", "--partitions", "1", "--topic", "clicks"])
        defer { broker.stop() }
        let address = try broker.bootstrapAddress()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-produce-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = folder.appendingPathComponent("first.tsv")
        let second = folder.appendingPathComponent("second.tsv")
        // A byte-order mark, a valid line, a 1.1 MB line, a valid line; then a second file.
        let huge = "imgX\t" + String(repeating: "x", count: 1_100_000) + "\t1"
        try Data([0xEF, 0xBB, 0xBF] + Array("imgA\tred car\t2\n\(huge)\nimgB\tred car\t1\n".utf8)).write(to: first)
        try Data("\(huge)\nimgC\tblue car\t3\n".utf8).write(to: second)

        let produced = try await amc(["produce", "--brokers", address, first.path, second.path])
        #expect(produced.status != 0, "a line that was not sent makes the run fail")
        let errors = produced.stderr.split(separator: "\n").map(String.init)
        #expect(errors.contains { $0.hasPrefix("\(first.path):2: not sent: 1100007 bytes: ") }, "\(produced.stderr)")
        #expect(errors.contains { $0.hasPrefix("\(second.path):1: not sent: ") }, "\(produced.stderr)")
        #expect(produced.stdout.contains("produced 3 message(s) to clicks"), "\(produced.stdout)")
        #expect(produced.stderr.contains("2 line(s) were not sent or not delivered"), "\(produced.stderr)")

        let ingested = try await amc([
            "ingest", "--database-url", url, "--brokers", address, "--until-idle", "2", "--log-level", "error",
        ])
        #expect(ingested.status == 0, "\(ingested.stderr)")
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        let pairs = try connection.query(
            "SELECT query || '|' || image || '=' || clicks FROM relevance_pairs ORDER BY 1"
        )
        .map { try $0.decode(String.self, column: 0) }
        #expect(pairs == ["blue car|imgC=3", "red car|imgA=2", "red car|imgB=1"], "the BOM is not part of imgA")
        #expect(try connection.query("SELECT count(*) FROM dead_letters")[0].decode(Int.self, column: 0) == 0)
    }

    /// A file that cannot be opened stops the run, but only after what earlier files sent is delivered and counted.
    @Test func aMissingFileStopsTheRunAfterTheEarlierFilesAreDelivered() async throws {
        let broker = try BrokerProcess(arguments: ["broker", "--partitions", "1", "--topic", "clicks"])
        defer { broker.stop() }
        let address = try broker.bootstrapAddress()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-produce-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = folder.appendingPathComponent("first.tsv")
        try Data("imgA\tred car\t2\nimgB\tred car\t1\n".utf8).write(to: first)
        let missing = folder.appendingPathComponent("missing.tsv")

        let produced = try await amc(["produce", "--brokers", address, first.path, missing.path])
        #expect(produced.status != 0)
        #expect(produced.stderr.contains("cannot open \(missing.path)"), "\(produced.stderr)")
        #expect(produced.stderr.contains("(2 earlier message(s) delivered, 0 not)"), "\(produced.stderr)")
    }
}
