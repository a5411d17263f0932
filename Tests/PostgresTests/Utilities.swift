import Dispatch
import Foundation
import Logging
import Postgres
import Testing

// MARK: - Shared test server

/// The server every test in this process uses.
///
/// If `AMC_TEST_DATABASE_URL` is set (CI exports it after starting a throwaway server), tests create their
/// databases there; the URL must point at an administrative database of a superuser (or a role with
/// CREATEDB). Otherwise one ``LocalPostgresServer`` (fastUnsafe) is started lazily under a temporary
/// directory for the whole process and stopped at exit.
enum TestServer {
    /// The admin URL, or why the server could not be provided. Evaluated once (Swift globals are lazy and
    /// initialised exactly once, so parallel tests cannot start two servers).
    static let adminURL: Result<String, any Error> = Result {
        if let url = ProcessInfo.processInfo.environment["AMC_TEST_DATABASE_URL"], !url.isEmpty {
            return url
        }
        let directory = try makeShortTemporaryDirectory(prefix: "amcpg")
        let server = LocalPostgresServer(directory: directory, fastUnsafe: true, logger: testLogger)
        try server.start()
        localServer.withLock { $0 = (server, directory) }
        atexit {
            guard let (server, directory) = TestServer.localServer.withLock({ $0 }) else { return }
            try? server.stop(mode: .immediate)
            try? FileManager.default.removeItem(at: directory)
        }
        return server.url(database: "postgres")
    }

    static let localServer = LockedBox<(LocalPostgresServer, URL)?>(nil)
}

/// A logger for tests (swift-log's default handler is not bootstrapped here, so it prints to stderr
/// only at `.info` and above; keep tests quiet).
let testLogger: Logger = {
    var logger = Logger(label: "amc.postgres.tests")
    logger.logLevel = .warning
    return logger
}()

/// Creates a fresh database `t_<random>`, runs `body` with its URL, and drops it afterwards.
func withTestDatabase<R>(_ body: (String) async throws -> R) async throws -> R {
    let admin = try await offPool { try TestServer.adminURL.get() }
    let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
    try await offPool {
        let connection = try PostgresConnection.connect(admin, logger: testLogger)
        defer { connection.close() }
        try connection.execute(script: "CREATE DATABASE \(name)")
    }
    let url = databaseURL(admin: admin, database: String(name))
    do {
        let result = try await body(url)
        try await dropDatabase(admin: admin, name: String(name))
        return result
    } catch {
        try? await dropDatabase(admin: admin, name: String(name))
        throw error
    }
}

/// Convenience: a fresh database and an open connection to it (closed afterwards).
func withTestConnection<R: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> R) async throws -> R {
    try await withTestDatabase { url in
        try await offPool {
            let connection = try PostgresConnection.connect(url, logger: testLogger)
            defer { connection.close() }
            return try body(connection)
        }
    }
}

private func dropDatabase(admin: String, name: String) async throws {
    try await offPool {
        let connection = try PostgresConnection.connect(admin, logger: testLogger)
        defer { connection.close() }
        try connection.execute(script: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// Replaces the database of a `postgresql://` URL or appends `dbname=` to a key=value string.
func databaseURL(admin: String, database: String) -> String {
    if admin.hasPrefix("postgres://") || admin.hasPrefix("postgresql://"),
        var components = URLComponents(string: admin)
    {
        components.path = "/" + database
        return components.string ?? admin
    }
    return admin + " dbname=\(database)"
}

/// Runs blocking work on a Dispatch thread, never on the cooperative pool.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// A short directory under /tmp (unix socket paths must stay under 107 bytes).
func makeShortTemporaryDirectory(prefix: String) throws -> URL {
    let url = URL(fileURLWithPath: "/tmp/\(prefix)-\(UUID().uuidString.prefix(8).lowercased())")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A minimal lock-protected box (tests only).
final class LockedBox<Value>: @unchecked Sendable {
    // `@unchecked Sendable`: `value` is only accessed while holding `lock`.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// A bind-encoding error helper used by tests.
struct TestFailure: Error, Equatable {
    var marker: String
}
