import Foundation
import Postgres
import TestSupport
import Testing

/// `amc catalog import` as operators meet it: per-line errors, the summary, the exit status, what is stored.
@Suite(.timeLimit(.minutes(6)))
struct CatalogCommandTests {
    @Test func goodLinesAreStoredBadOnesReportedAndTheExitIsNonZero() async throws {
        let url = try TestPostgres.freshDatabase()
        let file = try temporaryFile(
            [
                #"{"image": "a", "keywords": ["Red Car"], "regions": [[1, 2], [3, 4]]}"#,
                #"{"image": "b", "keywords": [], "regions_b64": "AACAPwAAAEA=", "shape": [1, 2]}"#,
                #"{"image": "c", "keywords": [], "regions": [[1, 2"#,
                "",
                #"{"image": "d", "keywords": [], "regions": [[1, 2, 3]]}"#,
            ].joined(separator: "\n") + "\n"
        )
        defer { try? FileManager.default.removeItem(at: file) }

        let result = try await amc(["catalog", "import", "--database-url", url, file.path])
        #expect(result.status != 0)
        #expect(result.stdout.contains("imported 2 images (2 new, 0 updated), rejected 2 lines"), "\(result.stdout)")
        let errors = result.stderr.split(separator: "\n").map(String.init)
        #expect(errors.count == 3, "\(result.stderr)")
        #expect(errors.contains { $0.hasPrefix("\(file.path):3: invalid_json: ") }, "\(result.stderr)")
        #expect(
            errors.contains("\(file.path):5: dimension_mismatch: D is 3; the catalog's D is 2"),
            "\(result.stderr)"
        )
        #expect(errors.last == "Error: 2 line(s) were rejected; the 2 accepted image(s) were stored")
        #expect(try storedKeys(url) == ["a", "b"])

        // Standard input; everything accepted this time: exit 0, the existing key counts as updated. The stored
        // catalog's D (2) applies from the first line.
        let again = try await run(
            amcExecutable.path,
            ["catalog", "import", "--database-url", url, "-"],
            input: #"{"image": "a", "keywords": ["x"], "regions": [[5, 6]]}"# + "\n"
                + #"{"image": "e", "keywords": [], "regions": [[7, 8]]}"#
        )
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("imported 2 images (1 new, 1 updated), rejected 0 lines"), "\(again.stdout)")
        #expect(try storedKeys(url) == ["a", "b", "e"])

        let stdinError = try await run(
            amcExecutable.path,
            ["catalog", "import", "--database-url", url, "-"],
            input: #"{"image": "f", "keywords": [], "regions": [[1]]}"#
        )
        #expect(stdinError.stderr.hasPrefix("stdin:1: dimension_mismatch: "), "\(stdinError.stderr)")
    }

    @Test func printedRejectionsAreCappedAndCounted() async throws {
        let url = try TestPostgres.freshDatabase()
        let file = try temporaryFile(String(repeating: "not json\n", count: 105))
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await amc(["catalog", "import", "--database-url", url, "--batch-size", "2", file.path])
        #expect(result.status != 0)
        let errors = result.stderr.split(separator: "\n")
        #expect(errors.count { $0.contains(": invalid_json: ") } == 100)
        #expect(result.stderr.contains("… and 5 more rejected line(s) not shown"))
        #expect(result.stdout.contains("imported 0 images (0 new, 0 updated), rejected 105 lines"))
    }

    @Test func aLineThatIsNotUTF8IsRejected() async throws {
        let url = try TestPostgres.freshDatabase()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "amc-catalog-\(UUID().uuidString).jsonl"
        )
        defer { try? FileManager.default.removeItem(at: file) }
        var bytes = Array(#"{"image": "a", "keywords": [], "regions": [[1]]}"#.utf8) + [0x0A]
        bytes += Array(#"{"image": "b"#.utf8) + [0xFF] + Array(#"", "keywords": [], "regions": [[1]]}"#.utf8)
        try Data(bytes).write(to: file)
        let result = try await amc(["catalog", "import", "--database-url", url, file.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(file.path):2: invalid_json: the line is not valid UTF-8"), "\(result.stderr)")
        #expect(try storedKeys(url) == ["a"])
    }

    @Test func aMissingFileStopsBeforeAnythingIsImported() async throws {
        let url = try TestPostgres.freshDatabase()
        let file = try temporaryFile(#"{"image": "a", "keywords": [], "regions": [[1]]}"#)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try await amc([
            "catalog", "import", "--database-url", url, file.path, "/nonexistent/catalog.jsonl",
        ])
        #expect(result.status != 0)
        #expect(result.stderr.split(separator: "\n") == ["Error: cannot open /nonexistent/catalog.jsonl"])
        #expect(try storedKeys(url).isEmpty)
    }

    private func temporaryFile(_ text: String) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "amc-catalog-\(UUID().uuidString).jsonl"
        )
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    private func storedKeys(_ url: String) throws -> [String] {
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        return try connection.query("SELECT image FROM images ORDER BY image").map {
            try $0.decode(String.self, column: 0)
        }
    }
}
