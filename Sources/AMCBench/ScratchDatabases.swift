import CommandSupport
import Foundation
import Logging
import Postgres
import Synchronization

/// Where `amc bench adapt` puts its databases: on a throwaway PostgreSQL server under a local folder (the embedded
/// default), or as scratch databases on the server an admin URL reaches (one that may `CREATE DATABASE`), dropped
/// at the end.
final class ScratchDatabases: Sendable {
    private let local: LocalPostgresServer?
    private let adminURL: String
    private let migrations: URL
    private let logger: Logger
    private let created = Mutex<[String]>([])

    /// Starts the local server under `directory` unless `adminURL` names a server to use.
    init(adminURL: String?, directory: URL, migrations: URL, logger: Logger) throws {
        if let adminURL {
            local = nil
            self.adminURL = adminURL
        } else {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = LocalPostgresServer(directory: directory, fastUnsafe: false, logger: logger)
            try server.start()
            local = server
            self.adminURL = server.url(database: "postgres")
        }
        self.migrations = migrations
        self.logger = logger
    }

    /// Creates (or re-creates) an empty, migrated database `name` and returns its URL.
    func fresh(_ name: String) throws -> String {
        try create(name, template: nil)
        let url = try self.url(of: name)
        let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        try Migrator(directory: migrations).migrate(connection)
        return url
    }

    /// Creates (or re-creates) `name` as a copy of `template` and returns its URL. Nobody may be connected to the
    /// template: a session that just closed may still be ending on the server, so a refusal is retried for 10 s.
    func copy(_ template: String, to name: String) throws -> String {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                try create(name, template: template)
                return try url(of: name)
            } catch let error as PostgresError where ContinuousClock.now < deadline {
                logger.debug("copying the template failed; retrying", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }

    /// Drops the databases created on an admin URL's server, or stops the local server.
    func stop() {
        if let local {
            do {
                try local.stop()
            } catch {
                logger.warning("could not stop the local PostgreSQL", metadata: ["error": "\(error)"])
            }
            return
        }
        for name in created.withLock({ $0 }) {
            do {
                try withAdmin { try ScratchDatabaseStore(connection: $0).drop(name) }
            } catch {
                logger.warning(
                    "could not drop a scratch database",
                    metadata: ["database": "\(name)", "error": "\(error)"]
                )
            }
        }
    }

    private func create(_ name: String, template: String?) throws {
        try withAdmin { connection in
            let store = ScratchDatabaseStore(connection: connection)
            try store.drop(name)
            try store.create(name, template: template)
        }
        created.withLock { $0.append(name) }
    }

    private func withAdmin(_ body: (PostgresConnection) throws -> Void) throws {
        let connection = try PostgresConnection.connect(adminURL, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        try body(connection)
    }

    private func url(of database: String) throws -> String {
        guard var components = URLComponents(string: adminURL), components.scheme?.hasPrefix("postgres") == true else {
            throw CommandError("the admin URL must be a postgresql:// URL of a server that may CREATE DATABASE")
        }
        components.path = "/" + database
        guard let url = components.string else {
            throw CommandError("cannot name database \(database) on the admin URL")
        }
        return url
    }
}

/// Creating and dropping the benchmark's scratch databases, on an administrator's session.
struct ScratchDatabaseStore: Sendable {
    private let connection: PostgresConnection

    /// - Parameter connection: A session that may `CREATE DATABASE` (not closed by the store).
    init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Creates `name`, empty or as a copy of `template`. Names are the benchmark's own (`[a-z0-9_]+`).
    func create(_ name: String, template: String?) throws {
        precondition(Self.isPlain(name) && (template.map(Self.isPlain) ?? true), "a scratch database name is plain")
        try connection.execute(script: "CREATE DATABASE \(name)" + (template.map { " TEMPLATE \($0)" } ?? ""))
    }

    /// Drops `name` if it exists, disconnecting its sessions.
    func drop(_ name: String) throws {
        precondition(Self.isPlain(name), "a scratch database name is plain")
        try connection.execute(script: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    private static func isPlain(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
    }
}
