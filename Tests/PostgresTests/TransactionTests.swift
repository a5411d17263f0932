import Testing

@testable import Postgres

@Suite struct TransactionTests {
    @Test func commitKeepsWork() async throws {
        try await withTestConnection { connection in
            try connection.execute(script: "CREATE TABLE items (id int PRIMARY KEY)")
            let value = try connection.transaction { connection in
                try connection.execute("INSERT INTO items VALUES (\(1))")
                return try connection.execute("INSERT INTO items VALUES (\(2))")
            }
            #expect(value == 1)
            #expect(try connection.query("SELECT count(*) FROM items").first?.decode(Int.self, column: 0) == 2)
        }
    }

    @Test func thrownErrorRollsBackAndIsRethrown() async throws {
        try await withTestConnection { connection in
            try connection.execute(script: "CREATE TABLE items (id int PRIMARY KEY)")
            #expect(throws: TestFailure(marker: "boom")) {
                try connection.transaction { connection in
                    try connection.execute("INSERT INTO items VALUES (\(1))")
                    throw TestFailure(marker: "boom")
                }
            }
            #expect(try connection.query("SELECT count(*) FROM items").first?.decode(Int.self, column: 0) == 0)
            // The connection is usable afterwards, and not left inside a transaction.
            try connection.execute("INSERT INTO items VALUES (\(3))")
            #expect(try connection.query("SELECT count(*) FROM items").first?.decode(Int.self, column: 0) == 1)
        }
    }

    @Test func swallowedStatementErrorStillFailsTheTransaction() async throws {
        try await withTestConnection { connection in
            try connection.execute(script: "CREATE TABLE items (id int PRIMARY KEY)")
            do {
                try connection.transaction { connection in
                    try connection.execute("INSERT INTO items VALUES (\(1))")
                    _ = try? connection.execute("INSERT INTO items VALUES (\(1))")
                }
                Issue.record("expected the transaction to fail")
            } catch let error as PostgresError {
                #expect(error.sqlState == .inFailedSQLTransaction)
            }
            #expect(try connection.query("SELECT count(*) FROM items").first?.decode(Int.self, column: 0) == 0)
        }
    }
}
