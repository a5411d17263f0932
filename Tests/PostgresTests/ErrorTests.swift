import Foundation
import Testing

@testable import Postgres

@Suite struct ErrorTests {
    @Test func uniqueViolationIsPermanentAndDoesNotLeakTheValue() async throws {
        try await withTestConnection { connection in
            try connection.execute(script: "CREATE TABLE accounts (email text PRIMARY KEY)")
            let secret = "alice-secret-7731@example.com"
            try connection.execute("INSERT INTO accounts VALUES (\(secret))")
            do {
                try connection.execute("INSERT INTO accounts VALUES (\(secret))")
                Issue.record("expected a unique violation")
            } catch let error as PostgresError {
                #expect(error.sqlState == .uniqueViolation)
                #expect(!error.isTransient)
                #expect(error.detail == nil)
                #expect(!error.description.contains(secret))
                #expect(!error.message.contains(secret))
                #expect(error.description.contains("23505"))
            }
        }
    }

    @Test func invalidInputDoesNotLeakTheValue() async throws {
        try await withTestConnection { connection in
            do {
                _ = try connection.query("SELECT \("not-a-number-9981")::int")
                Issue.record("expected an error")
            } catch let error as PostgresError {
                #expect(error.sqlState == .invalidTextRepresentation)
                #expect(!error.description.contains("not-a-number-9981"))
            }
        }
    }

    @Test func syntaxErrorIsPermanent() async throws {
        try await withTestConnection { connection in
            let error = try #require(throws: PostgresError.self) { try connection.query("SELEC 1") }
            #expect(error.sqlState == .syntaxError)
            #expect(!error.isTransient)
            // The connection survives statement errors.
            #expect(try connection.query("SELECT 1").count == 1)
        }
    }

    @Test func closedPortIsTransient() async throws {
        // Blocking libpq calls stay off the cooperative pool.
        try await offPool {
            let port = try LocalPostgresServer.freePort()  // nothing listens there
            let error = try #require(throws: PostgresError.self) {
                try PostgresConnection.connect("postgresql://postgres@127.0.0.1:\(port)/postgres", logger: testLogger)
            }
            #expect(error.sqlState == nil)
            #expect(error.isTransient)
        }
    }

    @Test func retryingConnectGivesUpAfterTimeout() async throws {
        // Blocking libpq calls stay off the cooperative pool.
        try await offPool {
            let port = try LocalPostgresServer.freePort()
            let start = ContinuousClock.now
            #expect(throws: PostgresError.self) {
                try PostgresConnection.connect(
                    "postgresql://postgres@127.0.0.1:\(port)/postgres",
                    retryingFor: .milliseconds(400),
                    logger: testLogger
                )
            }
            // It kept trying for (most of) its window rather than failing at once, and then gave up: an upper bound
            // would measure the scheduler, not the code, so only "it returned at all" is checked above.
            let elapsed = ContinuousClock.now - start
            #expect(elapsed >= .milliseconds(150))
        }
    }

    @Test func passwordNeverAppearsInErrors() async throws {
        // Blocking libpq calls stay off the cooperative pool.
        try await offPool {
            let port = try LocalPostgresServer.freePort()
            let urls = [
                "postgresql://bob:Sup3rS3cretPw@127.0.0.1:\(port)/db",
                "postgresql://bob:Sup3rS3cretPw@127.0.0.1:\(port)/db?sslmode=bogus",
                "postgresql://bob:Sup3rS3cretPw%zz@127.0.0.1:\(port)/db",
                "postgresql://bob@127.0.0.1:\(port)/db?password=Sup3rS3cretPw&bogus=1",
                "host=127.0.0.1 port=\(port) user=bob password=Sup3rS3cretPw",
                "host=127.0.0.1 port=\(port) password='Sup3rS3cretPw' nonsense=1",
                "host=127.0.0.1 password=Sup3rS3cretPw port=notaport",
            ]
            for url in urls {
                let error = try #require(throws: PostgresError.self) {
                    try PostgresConnection.connect(url, logger: testLogger)
                }
                #expect(!error.description.contains("Sup3rS3cretPw"), "\(error.description)")
                #expect(!error.description.contains("S3cret"), "\(error.description)")
            }
        }
    }

    @Test func wrongDatabaseIsPermanent() async throws {
        let admin = try await offPool { try TestServer.adminURL.get() }
        let error = try #require(throws: PostgresError.self) {
            try PostgresConnection.connect(
                databaseURL(admin: admin, database: "no_such_db_8812"),
                retryingFor: .seconds(5),
                logger: testLogger
            )
        }
        #expect(!error.isTransient)
        #expect(error.message.contains("does not exist"))
    }

    @Test func classification() {
        #expect(PostgresError.isTransient(nil))
        #expect(PostgresError.isTransient("08006"))
        #expect(PostgresError.isTransient(.serializationFailure))
        #expect(PostgresError.isTransient(.deadlockDetected))
        #expect(PostgresError.isTransient(.tooManyConnections))
        #expect(PostgresError.isTransient(.adminShutdown))
        #expect(PostgresError.isTransient(.cannotConnectNow))
        #expect(PostgresError.isTransient(.lockNotAvailable))
        #expect(!PostgresError.isTransient(.uniqueViolation))
        #expect(!PostgresError.isTransient(.syntaxError))
        let sanitised = PostgresError.fromServer(
            sqlState: "22P02",
            message: "invalid input syntax for type integer: \"abc\"",
            detail: "x",
            connectionLost: false
        )
        #expect(sanitised.message == "invalid input syntax for type integer: \"…\"")
        #expect(sanitised.detail == nil)
        let lost = PostgresError.fromServer(
            sqlState: "XX000",
            message: "server closed the connection\n\tunexpectedly",
            detail: nil,
            connectionLost: true
        )
        #expect(lost.isTransient)
        #expect(lost.message == "server closed the connection unexpectedly")
        let code: SQLState = "23505"
        #expect(code == .uniqueViolation && code.errorClass == "23" && code.description == "23505")
    }

    @Test func closedConnectionThrows() async throws {
        try await withTestDatabase { url in
            try await offPool {
                let connection = try PostgresConnection.connect(url, logger: testLogger)
                connection.close()
                connection.close()
                #expect(!connection.isConnected)
                #expect(throws: PostgresError.self) { try connection.query("SELECT 1") }
            }
        }
    }
}
