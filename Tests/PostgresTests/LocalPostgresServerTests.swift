import Dispatch
import Foundation
import Testing

@testable import Postgres

@Suite struct LocalPostgresServerTests {
    @Test func restartBreaksOldConnectionsAndRetryingConnectRecovers() async throws {
        let directory = try makeShortTemporaryDirectory(prefix: "amcrs")
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = LocalPostgresServer(directory: directory, fastUnsafe: true, logger: testLogger)
        try await offPool {
            try server.start()
            try server.start()  // idempotent
            defer { try? server.stop(mode: .immediate) }
            try server.createDatabase("restart_db")
            #expect(throws: (any Error).self) { try server.createDatabase("Bad-Name; DROP") }
            let url = server.url(database: "restart_db")

            let old = try PostgresConnection.connect(url, logger: testLogger)
            defer { old.close() }
            #expect(try old.query("SELECT 1").count == 1)

            try server.restart()
            let error = try #require(throws: PostgresError.self) { try old.query("SELECT 1") }
            #expect(error.isTransient, "\(error)")
            #expect(!old.isConnected)

            let fresh = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: testLogger)
            defer { fresh.close() }
            #expect(try fresh.query("SELECT 1").count == 1)

            // While the server is down, connect(retryingFor:) keeps trying until it is back.
            try server.stop()
            #expect(throws: PostgresError.self) { try PostgresConnection.connect(url, logger: testLogger) }
            let restarted = DispatchSemaphore(value: 0)
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.7) {
                try? server.start()
                restarted.signal()
            }
            let retried = try PostgresConnection.connect(url, retryingFor: .seconds(20), logger: testLogger)
            defer { retried.close() }
            #expect(try retried.query("SELECT 1").count == 1)
            restarted.wait()
            try server.dropDatabase("restart_db")
        }
    }
}
