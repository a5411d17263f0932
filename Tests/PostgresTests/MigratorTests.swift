import Foundation
import Testing

@testable import Postgres

@Suite struct MigratorTests {
    private func makeDirectory(_ files: [String: String]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("amc-migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, contents) in files {
            try Data(contents.utf8).write(to: directory.appendingPathComponent(name))
        }
        return directory
    }

    @Test func appliesInOrderOnceAndRefusesEditedOrMissingFiles() async throws {
        let directory = try makeDirectory([
            "0001_create_users.sql": "CREATE TABLE users (id int PRIMARY KEY, name text);",
            // Ordered by number, not by name: "3" sorts after "0002" as text too, but not before "0001".
            "3_add_email.sql": "ALTER TABLE users ADD COLUMN email text; INSERT INTO users VALUES (1, 'a', 'b');",
            "0002_create_index.sql": "CREATE INDEX users_name ON users (name);",
            "README.md": "not a migration",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let migrator = Migrator(directory: directory, logger: testLogger)

        try await withTestConnection { connection in
            #expect(try migrator.pending(on: connection).map(\.version) == [1, 2, 3])
            let applied = try migrator.migrate(connection)
            #expect(applied.map(\.version) == [1, 2, 3])
            #expect(applied.map(\.name) == ["create_users", "create_index", "add_email"])
            let records = try connection.query("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
            #expect(try records.map { try $0.decode(Int.self, column: 0) } == [1, 2, 3])
            #expect(
                try records.first?.decode(String.self, column: 2)
                    == SHA256.hexDigest(of: Array("CREATE TABLE users (id int PRIMARY KEY, name text);".utf8))
            )

            #expect(try migrator.migrate(connection).isEmpty)
            #expect(try migrator.pending(on: connection).isEmpty)

            // Editing an applied file is refused, naming the file.
            try Data("CREATE INDEX users_name ON users (name, id);".utf8)
                .write(to: directory.appendingPathComponent("0002_create_index.sql"))
            let edited = try #require(throws: MigrationError.self) { try migrator.migrate(connection) }
            #expect(edited.code == .checksumMismatch)
            #expect(edited.description.contains("0002_create_index.sql"))
            #expect(throws: MigrationError.self) { try migrator.pending(on: connection) }

            // Removing an applied file is refused too.
            try Data("CREATE INDEX users_name ON users (name);".utf8)
                .write(to: directory.appendingPathComponent("0002_create_index.sql"))
            try FileManager.default.removeItem(at: directory.appendingPathComponent("3_add_email.sql"))
            let missing = try #require(throws: MigrationError.self) { try migrator.migrate(connection) }
            #expect(missing.code == .missingFile)
            #expect(missing.description.contains("0003_add_email.sql"))
        }
    }

    @Test func aGapInTheSequenceIsRefusedBeforeAnythingIsApplied() async throws {
        let directory = try makeDirectory([
            "0001_a.sql": "CREATE TABLE a (id int);",
            "0002_b.sql": "CREATE TABLE b (id int);",
            "0004_d.sql": "CREATE TABLE d (id int);",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let migrator = Migrator(directory: directory, logger: testLogger)
        // Checked here, not inside the closure: it runs off the test's task, where a failed expectation would not be
        // attributed to this test.
        let (gap, pendingGap, nothingApplied) = try await withTestConnection { connection in
            (
                Self.migrationError { try migrator.migrate(connection) },
                Self.migrationError { try migrator.pending(on: connection) },
                try connection.query(
                    """
                    SELECT to_regclass('a') IS NULL AND to_regclass('d') IS NULL
                           AND to_regclass('schema_migrations') IS NULL
                    """
                )[0].decode(Bool.self, column: 0)
            )
        }
        #expect(gap?.code == .missingVersion, "\(String(describing: gap))")
        #expect(gap?.message.contains("0003_*.sql is missing") == true, "\(String(describing: gap))")
        #expect(gap?.message.contains("between 0002_b.sql and 0004_d.sql") == true, "\(String(describing: gap))")
        #expect(pendingGap?.code == .missingVersion)
        #expect(nothingApplied, "nothing applied, not even the history table")

        // A sequence that does not start at 0001 has a gap too.
        try FileManager.default.removeItem(at: directory.appendingPathComponent("0001_a.sql"))
        let start = try #require(throws: MigrationError.self) { try migrator.migrations() }
        #expect(start.code == .missingVersion)
        #expect(start.message.contains("0001_*.sql is missing from the migrations folder (before 0002_b.sql)"))
    }

    /// The ``MigrationError`` `body` throws, nil when it throws none.
    private static func migrationError(_ body: () throws -> some Any) -> MigrationError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error as? MigrationError
        }
    }

    @Test func aMissingFolderIsNamedInOneLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("amc-none-\(UUID().uuidString)")
        let error = try #require(throws: MigrationError.self) {
            try Migrator(directory: directory, logger: testLogger).migrations()
        }
        #expect(error.code == .missingDirectory)
        #expect(error.description == "MigrationError(missingDirectory): no migrations folder at \(directory.path)")
    }

    /// Applied migrations are recorded with the hex SHA-256 of the file, what `sha256sum` prints: every database
    /// migrated by an earlier release recorded exactly these, so `amc migrate` must go on computing them so.
    @Test func checksumsAreWhatSha256sumPrintsForEachRepositoryFile() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Migrations")
        let migrations = try Migrator(directory: folder, logger: testLogger).migrations()
        #expect(migrations.count >= 6)
        for migration in migrations {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
            process.arguments = [folder.appendingPathComponent(migration.fileName).path]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(printed.split(separator: " ").first.map(String.init) == migration.checksum, "\(migration.fileName)")
        }
    }

    @Test func failingMigrationRollsBackItsOwnTransactionOnly() async throws {
        let directory = try makeDirectory([
            "0001_ok.sql": "CREATE TABLE a (id int);",
            "0002_broken.sql": "CREATE TABLE b (id int); SELECT * FROM does_not_exist;",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withTestConnection { connection in
            let error = try #require(throws: MigrationError.self) {
                try Migrator(directory: directory, logger: testLogger).migrate(connection)
            }
            #expect(error.code == .failed)
            #expect(error.description.contains("0002_broken.sql"))
            #expect(
                try connection.query("SELECT to_regclass('a') IS NOT NULL, to_regclass('b') IS NULL").first
                    .map { try $0.decode(Bool.self, column: 0) && $0.decode(Bool.self, column: 1) } == true
            )
            let versions = try connection.query("SELECT version FROM schema_migrations")
            #expect(try versions.map { try $0.decode(Int.self, column: 0) } == [1])
        }
    }

    @Test func concurrentMigratorsApplyEachFileOnce() async throws {
        var files = [String: String]()
        for version in 1...8 {
            files[String(format: "%04d_step.sql", version)] =
                "CREATE TABLE step_\(version) (id int); SELECT pg_sleep(0.02);"
        }
        let directory = try makeDirectory(files)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withTestDatabase { url in
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try await offPool {
                            let connection = try PostgresConnection.connect(url, logger: testLogger)
                            defer { connection.close() }
                            return try Migrator(directory: directory, logger: testLogger).migrate(connection).count
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(results == 8)
        }
    }

    @Test func invalidFileNamesAreRejected() throws {
        let directory = try makeDirectory(["01-bad.sql": "SELECT 1;"])
        defer { try? FileManager.default.removeItem(at: directory) }
        let error = try #require(throws: MigrationError.self) {
            try Migrator(directory: directory, logger: testLogger).migrations()
        }
        #expect(error.code == .invalidFileName)
        #expect(error.description.contains("01-bad.sql"))
        #expect(Migrator.parse(fileName: "0007_add_things.sql")! == (7, "add_things"))
    }
}
