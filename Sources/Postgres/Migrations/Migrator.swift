import Foundation
import Logging

/// Applies `NNNN_name.sql` files from a directory in numeric order.
///
/// Each migration runs in its own transaction together with its row in
/// `schema_migrations(version int primary key, name text, checksum text, applied_at timestamptz)`.
/// Concurrent migrators (several replicas starting at once) are serialised with a session-level
/// `pg_advisory_lock`, so every file is applied exactly once.
///
/// The migrator refuses to run when an applied file's checksum changed or an applied version's file
/// is missing: history must not be rewritten; add a new migration instead. It also refuses, before applying
/// anything, a folder whose versions skip a number (`0001`, `0002`, `0004`): versions run 1, 2, 3, … unbroken.
///
/// - Important: A migration must not contain its own `BEGIN`/`COMMIT`, nor statements that cannot run in
///   a transaction block (`CREATE INDEX CONCURRENTLY`, `VACUUM`).
public struct Migrator: Sendable {
    /// The directory holding the `.sql` files.
    public var directory: URL
    private let logger: Logger

    /// `pg_advisory_lock` key: the ASCII bytes of "amc_migr".
    static let lockKey: Int64 = 0x616d_635f_6d69_6772

    static let createTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version integer PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """

    /// Creates a migrator.
    /// - Parameters:
    ///   - directory: The directory holding the `NNNN_name.sql` files.
    ///   - logger: Logs each applied migration at info level.
    public init(directory: URL, logger: Logger = Logger(label: "amc.postgres.migrator")) {
        self.directory = directory
        self.logger = logger
    }

    /// Reads every migration file, sorted by version.
    /// - Returns: The migrations.
    /// - Throws: ``MigrationError`` for a missing or unreadable directory, unreadable files, bad names, duplicate
    ///   versions or a gap in the sequence.
    public func migrations() throws -> [Migration] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw MigrationError(code: .missingDirectory, message: "no migrations folder at \(directory.path)")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError(
                code: .unreadableDirectory,
                message: "cannot list migrations directory \(directory.path)",
                underlying: error
            )
        }
        var byVersion = [Int: Migration]()
        for fileName in names.sorted() where fileName.hasSuffix(".sql") {
            guard let (version, name) = Self.parse(fileName: fileName) else {
                throw MigrationError(
                    code: .invalidFileName,
                    message: "\(fileName) does not match NNNN_name.sql (digits, underscore, name)"
                )
            }
            let url = directory.appendingPathComponent(fileName)
            let bytes: [UInt8]
            do {
                bytes = [UInt8](try Data(contentsOf: url))
            } catch {
                throw MigrationError(code: .unreadableDirectory, message: "cannot read \(fileName)", underlying: error)
            }
            if let existing = byVersion[version] {
                throw MigrationError(
                    code: .duplicateVersion,
                    message: "\(fileName) and \(existing.fileName) share version \(version)"
                )
            }
            byVersion[version] = Migration(
                version: version,
                name: name,
                sql: String(decoding: bytes, as: UTF8.self),
                checksum: SHA256.hexDigest(of: bytes)
            )
        }
        let sorted = byVersion.values.sorted { $0.version < $1.version }
        try Self.checkUnbroken(sorted)
        return sorted
    }

    /// The migrations not yet applied, after checking the applied ones are unchanged.
    /// - Parameter connection: The database to inspect (nothing is written).
    /// - Returns: Pending migrations in version order.
    /// - Throws: ``MigrationError`` if applied history does not match the files; ``PostgresError``.
    public func pending(on connection: PostgresConnection) throws -> [Migration] {
        let all = try migrations()
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
        guard try exists.first?.decode(Bool.self, column: 0) == true else { return all }
        return try Self.pending(all, applied: try appliedRecords(connection))
    }

    /// Applies every pending migration, each in its own transaction.
    /// - Parameter connection: The database to migrate.
    /// - Returns: The migrations applied by this call (empty when already up to date).
    /// - Throws: ``MigrationError`` (history mismatch, or a migration's SQL failed — earlier ones stay
    ///   applied); ``PostgresError`` for connection problems.
    @discardableResult
    public func migrate(_ connection: PostgresConnection) throws -> [Migration] {
        let all = try migrations()
        try connection.execute("SELECT pg_advisory_lock(\(Self.lockKey))")
        defer { _ = try? connection.execute("SELECT pg_advisory_unlock(\(Self.lockKey))") }

        try connection.execute(script: Self.createTable)
        let pending = try Self.pending(all, applied: try appliedRecords(connection))
        for migration in pending {
            do {
                try connection.transaction { connection in
                    try connection.execute(script: migration.sql)
                    try connection.execute(
                        """
                        INSERT INTO schema_migrations (version, name, checksum) \
                        VALUES (\(migration.version), \(migration.name), \(migration.checksum))
                        """
                    )
                }
            } catch let error as PostgresError where error.isTransient && error.sqlState == nil {
                throw error
            } catch {
                throw MigrationError(code: .failed, message: "\(migration.fileName) failed", underlying: error)
            }
            logger.info(
                "Applied migration",
                metadata: [
                    PostgresLoggingKeys.migrationVersion: "\(migration.version)",
                    PostgresLoggingKeys.migrationName: "\(migration.name)",
                ]
            )
        }
        return pending
    }

    // MARK: - Internals

    struct AppliedRecord: Sendable, Equatable {
        var version: Int
        var name: String
        var checksum: String
    }

    private func appliedRecords(_ connection: PostgresConnection) throws -> [AppliedRecord] {
        try connection.query("SELECT version, name, checksum FROM schema_migrations ORDER BY version").map {
            AppliedRecord(
                version: try $0.decode(Int.self, column: 0),
                name: try $0.decode(String.self, column: 1),
                checksum: try $0.decode(String.self, column: 2)
            )
        }
    }

    /// Checks applied history against the files and returns what is left to apply.
    static func pending(_ all: [Migration], applied: [AppliedRecord]) throws -> [Migration] {
        let files = Dictionary(uniqueKeysWithValues: all.map { ($0.version, $0) })
        for record in applied {
            let expected = Migration(version: record.version, name: record.name, sql: "", checksum: record.checksum)
            guard let file = files[record.version] else {
                throw MigrationError(
                    code: .missingFile,
                    message: "\(expected.fileName) (version \(record.version)) was applied but its file is missing"
                )
            }
            guard file.checksum == record.checksum else {
                throw MigrationError(
                    code: .checksumMismatch,
                    message: "\(file.fileName) was changed after it was applied "
                        + "(recorded sha256 \(record.checksum.prefix(12))…, file now \(file.checksum.prefix(12))…); "
                        + "add a new migration instead of editing an applied one"
                )
            }
        }
        let appliedVersions = Set(applied.map(\.version))
        return all.filter { !appliedVersions.contains($0.version) }
    }

    /// Refuses a sequence that does not run 1, 2, 3, … without a gap: a file missing from the folder would
    /// otherwise be skipped while the ones after it are applied, leaving the schema half-migrated.
    static func checkUnbroken(_ sorted: [Migration]) throws {
        var previous: Migration?
        for migration in sorted {
            let expected = (previous?.version ?? 0) + 1
            if migration.version != expected {
                let missing = Migration(version: expected, name: "*", sql: "", checksum: "").fileName
                let between =
                    previous.map { "between \($0.fileName) and \(migration.fileName)" }
                    ?? "before \(migration.fileName)"
                throw MigrationError(
                    code: .missingVersion,
                    message: "\(missing) is missing from the migrations folder (\(between)); "
                        + "nothing was applied: restore it, migrations run in an unbroken sequence from 0001"
                )
            }
            previous = migration
        }
    }

    /// `0012_add_index.sql` → (12, "add_index").
    static func parse(fileName: String) -> (Int, String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let digits = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), !name.isEmpty, let version = Int(digits) else {
            return nil
        }
        return (version, String(name))
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
