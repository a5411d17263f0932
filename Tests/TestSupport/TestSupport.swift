/// Helpers shared by the test targets: a real PostgreSQL per test run, fresh migrated databases, waiting.
import Foundation
import Logging
import Postgres
import Synchronization

/// The repository root (for `Migrations/` and the built `amc` executable).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

public let testLogger: Logger = {
    var logger = Logger(label: "amc.test")
    logger.logLevel =
        ProcessInfo.processInfo.environment["AMC_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    return logger
}()

/// The PostgreSQL server the tests share: `AMC_TEST_DATABASE_URL` (started by the test script), or one local
/// server started on first use for this test process.
public enum TestPostgres {
    private static let server = Mutex<LocalPostgresServer?>(nil)

    /// Admin URL of the shared server.
    public static func adminURL() throws -> String {
        if let url = ProcessInfo.processInfo.environment["AMC_TEST_DATABASE_URL"], !url.isEmpty { return url }
        return try server.withLock { server in
            if let server { return server.url(database: "postgres") }
            let directory = URL(fileURLWithPath: "/tmp/amc-ingest-tests-\(getpid())")
            let started = LocalPostgresServer(directory: directory, fastUnsafe: true, logger: testLogger)
            try started.start()
            server = started
            atexit {
                guard let server = TestPostgres.server.withLock({ $0 }) else { return }
                try? server.stop(mode: .immediate)
                try? FileManager.default.removeItem(at: URL(fileURLWithPath: "/tmp/amc-ingest-tests-\(getpid())"))
            }
            return started.url(database: "postgres")
        }
    }

    /// Creates a fresh database (migrated unless `migrated` is false) and returns its URL.
    public static func freshDatabase(migrated: Bool = true) throws -> String {
        let admin = try PostgresConnection.connect(try adminURL(), retryingFor: .seconds(60), logger: testLogger)
        defer { admin.close() }
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try admin.execute(script: "CREATE DATABASE \(name)")
        let url = try replacingDatabase(in: adminURL(), with: String(name))
        guard migrated else { return url }
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        try Migrator(directory: repositoryRoot.appendingPathComponent("Migrations")).migrate(connection)
        return url
    }

    public static func replacingDatabase(in url: String, with database: String) throws -> String {
        guard var components = URLComponents(string: url) else { throw TestFailure("bad URL") }
        components.path = "/" + database
        return components.string!
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs blocking work off the cooperative pool, on a thread of ``BlockingExecutor``. The work stays inside the
/// calling task, so its `#expect`s and `#require`s are recorded against the test that runs it.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withTaskExecutorPreference(BlockingExecutor.shared) { try body() }
}

/// A task executor that runs each job on a thread of its own pool, never on Swift's cooperative pool, for test code
/// that makes blocking calls (libpq, librdkafka, `Thread.sleep`). Unlike a bare `Thread` or `DispatchQueue`, code
/// run through it keeps the task's locals, so Swift Testing attributes its issues to the right test.
public final class BlockingExecutor: TaskExecutor {
    /// The one executor the tests share.
    public static let shared = BlockingExecutor()

    private let queue = DispatchQueue(label: "amc-tests.blocking", attributes: .concurrent)

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// Waits until `condition` holds or `timeout` passes.
public func eventually(timeout: Duration = .seconds(60), _ condition: () throws -> Bool) throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return try condition()
}

/// The relevance pairs in the database as (query|image) → clicks.
public func storedPairs(_ url: String) throws -> [String: Int] {
    let connection = try PostgresConnection.connect(url, logger: testLogger)
    defer { connection.close() }
    var pairs: [String: Int] = [:]
    for row in try connection.query("SELECT query, image, clicks FROM relevance_pairs") {
        pairs["\(try row.decode(String.self, column: 0))|\(try row.decode(String.self, column: 1))"] =
            try row.decode(Int.self, column: 2)
    }
    return pairs
}
