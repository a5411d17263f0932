/// One migration file, `NNNN_name.sql`.
public struct Migration: Sendable, Hashable {
    /// The numeric prefix (`12` for `0012_add_index.sql`).
    public var version: Int
    /// The part after the underscore, without `.sql` (`add_index`).
    public var name: String
    /// SHA-256 of the file bytes, as lowercase hex.
    public var checksum: String
    /// The file contents.
    public var sql: String

    /// Creates a migration.
    /// - Parameters:
    ///   - version: The numeric version.
    ///   - name: The descriptive name.
    ///   - sql: The SQL script.
    ///   - checksum: SHA-256 hex of the script; computed from `sql` when `nil`.
    public init(version: Int, name: String, sql: String, checksum: String? = nil) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = checksum ?? SHA256.hexDigest(of: sql)
    }

    /// The conventional file name, `0012_add_index.sql` (at least four digits).
    public var fileName: String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "_" + name + ".sql"
    }
}
