import Catalog
import Foundation
import Logging
import Postgres
import Synchronization

/// Reads catalog images for a worker's cache misses (``EncodedCatalog``), over a few PostgreSQL connections of its
/// own, each used by one read at a time on its connection's queue (libpq blocks; never on the cooperative pool).
///
/// A read takes an idle connection or opens one, so concurrent requests' misses do not queue behind each other;
/// at most ``maxIdle`` connections are kept open between reads.
final class CatalogReader: Sendable {
    private let url: DatabaseURL
    private let logger: Logger
    private let idle = Mutex<[PostgresConnection]>([])
    /// Connections kept open between reads.
    static let maxIdle = 4

    /// - Parameters:
    ///   - url: The catalog's database.
    ///   - logger: Receives connection failures.
    init(url: DatabaseURL, logger: Logger) {
        self.url = url
        self.logger = logger
    }

    deinit {
        for connection in idle.withLock({ $0 }) { connection.close() }
    }

    /// The stored images with the given keys, in one query (``CatalogStore/images(keys:)``).
    /// - Throws: ``PostgresError``, ``CatalogStoreError``.
    func images(keys: [String]) async throws -> [CatalogImage] {
        let connection = try await take()
        do {
            let images = try await connection.run { try CatalogStore(connection: $0).images(keys: keys) }
            give(connection)
            return images
        } catch {
            connection.close()
            throw error
        }
    }

    private func take() async throws -> PostgresConnection {
        while let connection = idle.withLock({ $0.popLast() }) {
            if connection.isConnected { return connection }
            connection.close()
        }
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

    private func give(_ connection: PostgresConnection) {
        let kept = idle.withLock { idle in
            guard idle.count < Self.maxIdle else { return false }
            idle.append(connection)
            return true
        }
        if !kept { connection.close() }
    }
}
