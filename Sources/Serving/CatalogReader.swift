import Catalog
import Foundation
import Logging
import Postgres
import Synchronization

/// Reads catalog images for a worker's cache misses (``EncodedCatalog``), over at most ``maxConnections``
/// PostgreSQL connections of its own, each used by one read at a time on its connection's queue (libpq blocks;
/// never on the cooperative pool).
///
/// A read takes an idle connection, opens one while fewer than ``maxConnections`` are open, or else waits for one
/// to be handed back, so concurrent requests' misses run side by side up to that bound and the database sees a
/// bounded number of sessions per worker.
final class CatalogReader: Sendable {
    private let url: DatabaseURL
    private let logger: Logger
    private let pool = Mutex(Pool())
    private let readsStarted = Atomic<Int>(0)
    /// Most connections open at once.
    let maxConnections: Int

    private struct Pool {
        var idle: [PostgresConnection] = []
        /// Connections open or being opened (idle or in use).
        var open = 0
        /// Reads waiting for a connection: resumed with one handed back, or with nil to open one themselves.
        var waiters: [CheckedContinuation<PostgresConnection?, Never>] = []
    }

    /// - Parameters:
    ///   - url: The catalog's database.
    ///   - maxConnections: Most connections open at once (at least 1).
    ///   - logger: Receives connection failures.
    init(url: DatabaseURL, maxConnections: Int = 4, logger: Logger) {
        self.url = url
        self.maxConnections = max(1, maxConnections)
        self.logger = logger
    }

    deinit {
        for connection in pool.withLock({ $0.idle }) { connection.close() }
    }

    /// Connections open now (idle or in use).
    var openConnections: Int { pool.withLock { $0.open } }

    /// Reads started so far (one query each).
    var reads: Int { readsStarted.load(ordering: .relaxed) }

    /// The stored images with the given keys, in one query (``CatalogStore/images(keys:)``).
    /// - Throws: ``PostgresError``, ``CatalogStoreError``.
    func images(keys: [String]) async throws -> [CatalogImage] {
        readsStarted.add(1, ordering: .relaxed)
        let connection = try await take()
        do {
            let images = try await connection.run { try CatalogStore(connection: $0).images(keys: keys) }
            give(connection)
            return images
        } catch {
            connection.close()
            closed()
            throw error
        }
    }

    private enum Decision {
        case use(PostgresConnection)
        case open
        case wait
    }

    private func take() async throws -> PostgresConnection {
        let maxConnections = maxConnections
        let handed: PostgresConnection? = await withCheckedContinuation { continuation in
            let decision = pool.withLock { pool -> Decision in
                if let connection = pool.idle.popLast() { return .use(connection) }
                if pool.open < maxConnections {
                    pool.open += 1
                    return .open
                }
                pool.waiters.append(continuation)
                return .wait
            }
            switch decision {
            case .use(let connection): continuation.resume(returning: connection)
            case .open: continuation.resume(returning: nil)
            case .wait: break
            }
        }
        if let handed {
            if handed.isConnected { return handed }
            handed.close()
        }
        // This read holds one of the open slots: open its connection, or give the slot up on failure.
        do {
            return try await connect()
        } catch {
            closed()
            throw error
        }
    }

    /// Opens a connection on a thread of its own (connecting blocks).
    private func connect() async throws -> PostgresConnection {
        let (url, logger) = (url, logger)
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(
                    with: Result {
                        let connection = try PostgresConnection.connect(url, logger: logger)
                        do {
                            try connection.setApplicationName("amc serve catalog")
                        } catch {
                            connection.close()
                            throw error
                        }
                        return connection
                    }
                )
            }
            thread.start()
        }
    }

    /// Hands a connection to the first waiting read, or keeps it idle.
    private func give(_ connection: PostgresConnection) {
        let waiter = pool.withLock { pool in
            if pool.waiters.isEmpty {
                pool.idle.append(connection)
                return nil as CheckedContinuation<PostgresConnection?, Never>?
            }
            return pool.waiters.removeFirst()
        }
        waiter?.resume(returning: connection)
    }

    /// A connection was closed: its slot goes to the first waiting read (which opens a new one), or is freed.
    private func closed() {
        let waiter = pool.withLock { pool in
            if pool.waiters.isEmpty {
                pool.open -= 1
                return nil as CheckedContinuation<PostgresConnection?, Never>?
            }
            return pool.waiters.removeFirst()
        }
        waiter?.resume(returning: nil)
    }
}
