import Foundation
import Postgres

/// A LOGIN user in one of the component roles that `Migrations/0005_roles.sql` creates (`amc_ingest`,
/// `amc_learner`, `amc_serve`, `amc_operator`), for least-privilege tests. Each has a unique name (roles are
/// cluster-wide and tests run in parallel) and no password (the test server trusts local connections).
public struct TestLogin: Sendable {
    /// The login's name.
    public let name: String
    /// The group role it is in.
    public let role: String
    /// The database URL with this login as the user.
    public let url: String

    /// Runs `body` with a fresh login in `role` on the database at `url`, and drops the login afterwards, also
    /// when `body` throws. Close every connection the body opened before it returns.
    /// - Parameters:
    ///   - role: The group role (`amc_ingest`, …).
    ///   - url: A database URL of the owner (a migrated test database).
    ///   - body: The test, given the login.
    /// - Returns: What `body` returns.
    public static func with<T>(
        role: String,
        database url: String,
        _ body: (TestLogin) async throws -> T
    ) async throws -> T {
        let login = try create(role: role, database: url)
        do {
            let result = try await body(login)
            try login.drop()
            return result
        } catch {
            try? login.drop()
            throw error
        }
    }

    /// Creates a login in `role` (see ``with(role:database:_:)``, which also drops it).
    public static func create(role: String, database url: String) throws -> TestLogin {
        let name = "amc_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let admin = try PostgresConnection.connect(try TestPostgres.adminURL(), logger: testLogger)
        defer { admin.close() }
        try admin.execute(script: "CREATE ROLE \(name) LOGIN IN ROLE \(role)")
        guard var components = URLComponents(string: url) else { throw TestFailure("bad URL") }
        components.user = String(name)
        components.password = nil
        return TestLogin(name: String(name), role: role, url: components.string!)
    }

    /// Drops the login (it owns nothing: every right it has comes from its group role).
    public func drop() throws {
        let admin = try PostgresConnection.connect(try TestPostgres.adminURL(), logger: testLogger)
        defer { admin.close() }
        try admin.execute(script: "DROP ROLE IF EXISTS \(name)")
    }

    /// A new connection as this login.
    public func connect() throws -> PostgresConnection {
        try PostgresConnection.connect(url, logger: testLogger)
    }
}

/// The SQLSTATE `body` failed with: nil when it succeeded, `"?"` when it threw something other than a
/// ``PostgresError``. Least-privilege tests expect ``SQLState/insufficientPrivilege``.
public func sqlState(of body: () throws -> Void) -> SQLState? {
    do {
        try body()
        return nil
    } catch let error as PostgresError {
        return error.sqlState ?? "?"
    } catch {
        return "?"
    }
}

/// The statements of `statements` that did not fail with insufficient privilege (42501) on `connection`,
/// with what happened instead; empty when every one was refused for lack of privilege.
public func notRefused(_ statements: [String], on connection: PostgresConnection) -> [String] {
    statements.compactMap { statement in
        let state = sqlState { try connection.execute(script: statement) }
        return state == .insufficientPrivilege ? nil : "\(statement) → \(state.map { "\($0)" } ?? "succeeded")"
    }
}
