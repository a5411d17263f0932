import CLibPQ
import Dispatch
import Foundation
import Logging

/// One libpq connection.
///
/// Every method takes an internal recursive lock, so only one thread uses the `PGconn` at a time, and a
/// ``transaction(_:)`` or ``copyIn(_:_:)`` excludes other threads until it finishes.
///
/// - Important: The synchronous methods block the calling thread on network I/O. Never call them on Swift's
///   cooperative pool (from `async` code); use ``run(_:)``, which hops to this connection's own serial
///   `DispatchQueue`.
///
/// `@unchecked Sendable`: libpq documents that a `PGconn` must not be used by two threads at once
/// ("libpq is reentrant and thread-safe ... [but] two threads must not manipulate the same PGconn object
/// at the same time"). All mutable state here (the handle, the statement cache, the transaction flag) is
/// only touched while holding `lock`, which enforces exactly that.
public final class PostgresConnection: @unchecked Sendable {
    private let lock = NSRecursiveLock()
    private let queue: DispatchQueue
    private let logger: Logger

    // Guarded by `lock`.
    private var handle: PGConnection?
    private var preparedStatements: [StatementKey: String] = [:]
    private var inTransaction = false
    private var statementCounter = 0

    /// Statement texts beyond this many per connection run unprepared (`PQexecParams`), to bound
    /// server memory when callers generate SQL dynamically.
    static let maxPreparedStatements = 512

    private struct StatementKey: Hashable {
        var sql: String
        var types: [UInt32]
    }

    private init(handle: PGConnection, logger: Logger) {
        self.handle = handle
        var logger = logger
        logger[metadataKey: PostgresLoggingKeys.database] = "\(handle.databaseName)"
        logger[metadataKey: PostgresLoggingKeys.host] = "\(handle.hostName)"
        logger[metadataKey: PostgresLoggingKeys.backendPID] = "\(handle.serverProcessID)"
        self.logger = logger
        self.queue = DispatchQueue(label: "amc.postgres.connection")
    }

    // MARK: - Connecting

    /// Opens a connection (blocking).
    ///
    /// The session uses `client_encoding=UTF8` and `DateStyle=ISO`. Unless the URL says otherwise,
    /// `connect_timeout` is 10 s.
    /// - Parameters:
    ///   - url: A `postgresql://` URL or a `key=value` conninfo string.
    ///   - logger: Logger for connection events (debug level and below).
    /// - Returns: The open connection.
    /// - Throws: ``PostgresError``, transient when the server is unreachable, starting or shutting down;
    ///   never containing the password.
    public static func connect(_ url: String, logger: Logger) throws -> PostgresConnection {
        let handle = try PGConnection.connect(url, logger: logger)
        let connection = PostgresConnection(handle: handle, logger: logger)
        // Row decoding parses ISO timestamps.
        try connection.execute(script: "SET DateStyle TO ISO")
        connection.logger.debug("Postgres connection opened")
        return connection
    }

    /// Opens a connection (blocking) with a URL that never shows its password; see ``connect(_:logger:)``.
    public static func connect(_ url: DatabaseURL, logger: Logger) throws -> PostgresConnection {
        try connect(url.unredacted, logger: logger)
    }

    /// Opens a connection with a URL that never shows its password, retrying transient failures; see
    /// ``connect(_:retryingFor:logger:)``.
    public static func connect(
        _ url: DatabaseURL,
        retryingFor timeout: Duration,
        logger: Logger
    ) throws -> PostgresConnection {
        try connect(url.unredacted, retryingFor: timeout, logger: logger)
    }

    /// Opens a connection, retrying transient failures with exponential backoff (50 ms doubling to 2 s).
    /// - Parameters:
    ///   - url: A `postgresql://` URL or a `key=value` conninfo string.
    ///   - timeout: Give up once this much time has passed.
    ///   - logger: Logger for retries (debug level).
    /// - Returns: The open connection.
    /// - Throws: The first permanent ``PostgresError``, or the last transient one once `timeout` elapsed.
    public static func connect(
        _ url: String,
        retryingFor timeout: Duration,
        logger: Logger
    ) throws
        -> PostgresConnection
    {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var delay = Duration.milliseconds(50)
        var attempt = 1
        while true {
            do {
                return try connect(url, logger: logger)
            } catch let error as PostgresError where error.isTransient {
                guard clock.now + delay < deadline else { throw error }
                logger.debug(
                    "Postgres connection failed, retrying",
                    metadata: [
                        PostgresLoggingKeys.attempt: "\(attempt)",
                        PostgresLoggingKeys.delay: "\(delay.milliseconds)",
                        PostgresLoggingKeys.message: "\(error.message)",
                    ]
                )
                Thread.sleep(forTimeInterval: delay.seconds)
                delay = min(delay * 2, .seconds(2))
                attempt += 1
            }
        }
    }

    /// Whether the connection is open and healthy (`PQstatus == CONNECTION_OK`).
    public var isConnected: Bool {
        withLock { $0?.isOK ?? false }
    }

    /// Closes the connection (`PQfinish`). Idempotent; later calls to other methods throw.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if handle != nil { logger.debug("Postgres connection closed") }
        handle = nil
        preparedStatements = [:]
    }

    // MARK: - Async bridge

    /// Runs `body` on this connection's own serial `DispatchQueue` and resumes with its result.
    ///
    /// Use this from `async` code so the blocking libpq calls never occupy the cooperative pool.
    /// - Important: Cancellation of the calling task is not propagated into `body`.
    /// - Parameter body: Work to do with the connection.
    /// - Returns: What `body` returned.
    /// - Throws: What `body` threw.
    public func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(self) })
            }
        }
    }

    // MARK: - Executing

    /// Runs a literal SQL script with the simple query protocol (several statements allowed, no binds).
    ///
    /// Meant for migrations and session settings. Every statement's result is checked.
    /// - Parameter script: The SQL.
    /// - Throws: ``PostgresError`` for the first failing statement.
    public func execute(script: String) throws {
        try withHandle { handle in
            guard handle.withPointer({ PQsendQuery($0, script) }) == 1 else {
                throw handle.connectionError()
            }
            var firstError: PostgresError?
            while let result = handle.nextResult() {
                if result.status == PGRES_COPY_IN {
                    _ = handle.putCopyEnd(abortMessage: "COPY FROM STDIN is not supported in scripts")
                } else if !result.isSuccess, result.status != PGRES_EMPTY_QUERY, firstError == nil {
                    firstError = handle.error(from: result)
                }
            }
            if let firstError { throw firstError }
            if !handle.isOK { throw handle.connectionError() }
        }
    }

    /// Executes a statement with its binds and returns the number of affected rows.
    ///
    /// Each distinct SQL text (with its bind types) is prepared once per connection (`PQprepare`), then
    /// run with `PQexecPrepared`.
    /// - Parameter query: The statement.
    /// - Returns: The affected row count from `PQcmdTuples` (0 for statements without one).
    /// - Throws: ``PostgresError``.
    @discardableResult
    public func execute(_ query: PostgresQuery) throws -> Int {
        try withResult(query) { $0.affectedRows }
    }

    /// Runs a query with its binds and returns all rows (copied out of libpq).
    /// - Parameter query: The query.
    /// - Returns: The rows, in server order.
    /// - Throws: ``PostgresError``.
    public func query(_ query: PostgresQuery) throws -> [PostgresRow] {
        try withResult(query) { $0.rows() }
    }

    /// Runs a query and returns every value as the raw bytes of PostgreSQL's binary format (`bytea`: the bytes
    /// themselves; `text`: its UTF-8), `nil` for SQL `NULL`. For large `bytea` values such as model weights:
    /// half the bytes of the hex text format and no encoding on either side.
    /// - Parameter query: The query.
    /// - Returns: The rows, each its columns' bytes, in server order.
    /// - Throws: ``PostgresError``.
    public func queryBinary(_ query: PostgresQuery) throws -> [[[UInt8]?]] {
        try withResult(query, binaryResults: true) { $0.binaryRows() }
    }

    /// Runs `body` inside `BEGIN` … `COMMIT`, rolling back if it throws.
    ///
    /// - Important: Nested calls are a programming error and trap. Other threads are excluded from this
    ///   connection until the transaction ends.
    /// - Parameter body: The work; it receives this connection.
    /// - Returns: What `body` returned.
    /// - Throws: The error `body` threw (after `ROLLBACK`), or a ``PostgresError`` from `BEGIN`/`COMMIT`
    ///   (including when a statement failed inside `body` but its error was swallowed).
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        precondition(!inTransaction, "PostgresConnection.transaction must not be nested")
        try execute(script: "BEGIN")
        inTransaction = true
        defer { inTransaction = false }
        let value: T
        do {
            value = try body(self)
        } catch {
            do {
                try execute(script: "ROLLBACK")
            } catch let rollbackError {
                logger.debug("Postgres rollback failed", metadata: [PostgresLoggingKeys.message: "\(rollbackError)"])
            }
            throw error
        }
        let failedInside = withLock { $0?.transactionStatus == PQTRANS_INERROR }
        try execute(script: failedInside ? "ROLLBACK" : "COMMIT")
        if failedInside {
            throw PostgresError(
                sqlState: .inFailedSQLTransaction,
                message: "transaction rolled back because a statement inside it failed",
                isTransient: false
            )
        }
        return value
    }

    // MARK: - LISTEN / NOTIFY

    /// Starts listening on a channel. The name is quoted with `PQescapeIdentifier` (case is preserved).
    /// - Parameter channel: The channel name.
    /// - Throws: ``PostgresError``.
    public func listen(_ channel: String) throws {
        try execute(script: "LISTEN " + quotedIdentifier(channel))
    }

    /// Stops listening on a channel.
    /// - Parameter channel: The channel name.
    /// - Throws: ``PostgresError``.
    public func unlisten(_ channel: String) throws {
        try execute(script: "UNLISTEN " + quotedIdentifier(channel))
    }

    /// Sends a notification with `SELECT pg_notify($1, $2)` (delivered at commit if inside a transaction).
    /// - Parameters:
    ///   - channel: The channel name (exactly as given to ``listen(_:)``).
    ///   - payload: The payload (under 8000 bytes).
    /// - Throws: ``PostgresError``.
    public func notify(_ channel: String, payload: String) throws {
        try execute("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Waits up to `timeout` for notifications and returns all that are pending.
    ///
    /// Returns at once if some were already received (for example while other statements ran).
    /// - Important: Holds this connection for the whole wait; give listeners their own connection.
    /// - Parameter timeout: The longest time to wait; `.zero` only collects what is already there.
    /// - Returns: The notifications, possibly empty.
    /// - Throws: A transient ``PostgresError`` if the connection is lost.
    public func waitForNotifications(timeout: Duration) throws -> [PostgresNotification] {
        try withHandle { handle in
            guard handle.consumeInput() else { throw handle.connectionError() }
            var notifications = handle.takeNotifications()
            guard notifications.isEmpty else { return notifications }
            let clock = ContinuousClock()
            let deadline = clock.now + timeout
            while notifications.isEmpty {
                let remaining = clock.now.duration(to: deadline)
                guard remaining > .zero else { break }
                var descriptor = pollfd(fd: handle.socket, events: Int16(POLLIN), revents: 0)
                guard descriptor.fd >= 0 else { throw handle.connectionError() }
                let milliseconds = Int32(clamping: max(1, remaining.milliseconds))
                let ready = poll(&descriptor, 1, milliseconds)
                if ready < 0 {
                    if errno == EINTR { continue }
                    throw PostgresError(sqlState: nil, message: "poll failed: errno \(errno)", isTransient: true)
                }
                if ready == 0 { break }
                guard handle.consumeInput() else { throw handle.connectionError() }
                notifications = handle.takeNotifications()
            }
            return notifications
        }
    }

    // MARK: - Internals

    /// Runs `body` with the handle under the lock; throws if the connection was closed.
    func withHandle<R>(_ body: (PGConnection) throws -> R) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        guard let handle else {
            throw PostgresError(sqlState: nil, message: "connection is closed", isTransient: false)
        }
        return try body(handle)
    }

    private func withLock<R>(_ body: (PGConnection?) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(handle)
    }

    private func quotedIdentifier(_ identifier: String) throws -> String {
        try withHandle { handle in
            guard let quoted = handle.escapeIdentifier(identifier) else {
                throw PostgresError(sqlState: nil, message: "invalid identifier", isTransient: false)
            }
            return quoted
        }
    }

    /// Prepares (once) and executes `query`, handing the successful result to `body`.
    private func withResult<R>(
        _ query: PostgresQuery,
        binaryResults: Bool = false,
        _ body: (borrowing PGResult) throws -> R
    ) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        do {
            return try withResultOnce(query, binaryResults: binaryResults, body)
        } catch let error as PostgresError where error.isStalePlan {
            // A schema change invalidated the cached statement. It was evicted; outside a transaction
            // a retry re-prepares it, inside one the caller must retry the transaction.
            guard !inTransaction else { throw error }
            return try withResultOnce(query, binaryResults: binaryResults, body)
        }
    }

    private func withResultOnce<R>(
        _ query: PostgresQuery,
        binaryResults: Bool,
        _ body: (borrowing PGResult) throws -> R
    ) throws -> R {
        try withHandle { handle in
            let types = query.bindTypeOIDs
            let key = StatementKey(sql: query.sql, types: types)
            var name = preparedStatements[key]
            if name == nil, preparedStatements.count < Self.maxPreparedStatements {
                statementCounter += 1
                let newName = "amc_\(statementCounter)"
                guard let prepared = handle.prepare(name: newName, sql: query.sql, types: types) else {
                    throw handle.connectionError()
                }
                guard prepared.isSuccess else { throw handle.error(from: prepared) }
                preparedStatements[key] = newName
                name = newName
            }
            guard
                let result = handle.exec(
                    prepared: name,
                    sql: query.sql,
                    types: types,
                    values: query.bindValues,
                    binaryResults: binaryResults
                )
            else {
                throw handle.connectionError()
            }
            guard result.isSuccess else {
                if result.status == PGRES_COPY_IN || result.status == PGRES_COPY_OUT {
                    handle.drainResults()
                    throw PostgresError(
                        sqlState: nil,
                        message: "COPY is only supported through copyIn",
                        isTransient: false
                    )
                }
                let error = handle.error(from: result)
                if error.isStalePlan { preparedStatements[key] = nil }
                throw error
            }
            return try body(result)
        }
    }
}

extension PostgresError {
    /// "cached plan must not change result type": a prepared statement outlived a schema change.
    var isStalePlan: Bool {
        sqlState == .featureNotSupported && message.contains("cached plan")
    }
}

// MARK: - Duration helpers

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
