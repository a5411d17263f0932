import Foundation
import Testing

@testable import Postgres

@Suite struct BindingTests {
    @Test func interpolationBuildsPlaceholdersAndBinds() {
        let id = 42
        let name: String? = nil
        let table = "users"
        let query: PostgresQuery = "SELECT * FROM \(unescaped: table) WHERE id = \(id) AND name = \(name) OR 1 = \(id)"
        #expect(query.sql == "SELECT * FROM users WHERE id = $1 AND name = $2 OR 1 = $3")
        #expect(query.binds.count == 3)
        #expect(query.bindValues == [.text("42"), .null, .text("42")])
        #expect(query.bindTypeOIDs == [20, 0, 20])
        #expect(!query.description.contains("42"))
    }

    @Test func textArrayLiteralEscapes() {
        let value = ["a", "b,c", "d\"e", "f\\g", "", "NULL", "{x}"].postgresValue
        #expect(value == .text(#"{"a","b,c","d\"e","f\\g","","NULL","{x}"}"#))
    }

    @Test func everyBindableTypeRoundTrips() async throws {
        try await withTestConnection { connection in
            try connection.execute(
                script: """
                    CREATE TABLE everything (
                        id serial PRIMARY KEY,
                        s text, i int8, i32 int4, i64 int8, i16 int2, d float8, f float4, b bool,
                        bytes bytea, at timestamptz, tags text[], maybe text, maybe_int int8
                    )
                    """
            )
            let text = "héllo 🌍 — 'quoted' \"double\" \\ back\ttab\nnewline 中文"
            let bytes: [UInt8] = [0, 1, 2, 0, 255, 0x5C, 0x27, 0]
            let date = Date(timeIntervalSince1970: 1_715_000_000.123456)
            let tags = ["a", "b,c", "d\"e", "f\\g", "", "NULL", "ünï", "{x}"]
            try connection.execute(
                """
                INSERT INTO everything (s, i, i32, i64, i16, d, f, b, bytes, at, tags, maybe, maybe_int)
                VALUES (\(text), \(Int.min), \(Int32.max), \(Int64.max), \(Int16.min), \(-1.5e-300), \(Float(3.25)),
                        \(true), \(bytes), \(date), \(tags), \(String?.none), \(Int?.none))
                """
            )
            let rows = try connection.query(
                "SELECT s, i, i32, i64, i16, d, f, b, bytes, at, tags, maybe, maybe_int FROM everything"
            )
            let row = try #require(rows.first)
            #expect(try row.decode(String.self, column: 0) == text)
            #expect(try row.decode(Int.self, column: 1) == Int.min)
            #expect(try row.decode(Int32.self, column: 2) == Int32.max)
            #expect(try row.decode(Int64.self, column: 3) == Int64.max)
            #expect(try row.decode(Int16.self, column: 4) == Int16.min)
            #expect(try row.decode(Double.self, column: 5) == -1.5e-300)
            #expect(try row.decode(Float.self, column: 6) == 3.25)
            #expect(try row.decode(Bool.self, column: 7) == true)
            #expect(try row.decode([UInt8].self, column: 8) == bytes)
            let decodedDate = try row.decode(Date.self, column: 9)
            #expect(abs(decodedDate.timeIntervalSince1970 - date.timeIntervalSince1970) < 1e-6)
            #expect(try row.decode([String].self, column: 10) == tags)
            #expect(try row.decode(String?.self, column: 11) == nil)
            #expect(try row.decode(Int?.self, column: "maybe_int") == nil)
            #expect(row[11] == nil)
            #expect(try row.decode(String?.self, column: "s") == text)
            #expect(row.columnNames.first == "s")
        }
    }

    @Test func binaryResultsCarryByteaAsItselfAndTextAsUTF8() async throws {
        try await withTestConnection { connection in
            let blob = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let rows = try connection.queryBinary(
                "SELECT \(blob)::bytea, 'grüße'::text, NULL::bytea UNION ALL SELECT ''::bytea, '', '\\x00ff'::bytea"
            )
            #expect(rows.count == 2)
            #expect(rows[0][0] == blob)
            #expect(rows[0][1].map { String(decoding: $0, as: UTF8.self) } == "grüße")
            #expect(rows[0][2] == nil)
            #expect(rows[1][0] == [])
            #expect(rows[1][1] == [])
            #expect(rows[1][2] == [0, 255])
        }
    }

    @Test func selectingBindsDirectly() async throws {
        try await withTestConnection { connection in
            let rows = try connection.query(
                "SELECT \(7) + 1 AS n, \(2.5) * 2 AS x, NOT \(false) AS b, \("x") || 'y' AS s, \(Double.infinity) AS inf"
            )
            let row = try #require(rows.first)
            #expect(try row.decode(Int.self, column: "n") == 8)
            #expect(try row.decode(Double.self, column: "x") == 5)
            #expect(try row.decode(Bool.self, column: "b") == true)
            #expect(try row.decode(String.self, column: "s") == "xy")
            #expect(try row.decode(Double.self, column: "inf") == .infinity)
        }
    }

    @Test func datesRoundTripAcrossEras() async throws {
        try await withTestConnection { connection in
            // Microsecond-exact instants, before 1970, far future, and in a non-UTC session zone.
            try connection.execute(script: "SET TimeZone TO 'Asia/Kolkata'")
            for seconds in [0.0, -1.000001, -2_208_988_800.5, 253_402_300_799.999999, 1_715_000_000.000001] {
                let date = Date(timeIntervalSince1970: seconds)
                let row = try #require(try connection.query("SELECT \(date) AS at, \(date)::text AS text").first)
                let decoded = try row.decode(Date.self, column: 0)
                #expect(abs(decoded.timeIntervalSince1970 - seconds) < 2e-6, "\(seconds) -> \(row[1] ?? "")")
            }
        }
    }

    @Test func injectionThroughABindIsInert() async throws {
        try await withTestConnection { connection in
            try connection.execute(script: "CREATE TABLE victims (name text)")
            let evil = "x'); DROP TABLE victims; --"
            try connection.execute("INSERT INTO victims (name) VALUES (\(evil))")
            let evilIdentifier = "victims; DROP TABLE victims"
            let rows = try connection.query("SELECT name FROM victims WHERE name = \(evil) OR name = \(evilIdentifier)")
            #expect(try rows.map { try $0.decode(String.self, column: 0) } == [evil])
            let count = try connection.query("SELECT count(*) FROM victims")
            #expect(try count.first?.decode(Int.self, column: 0) == 1)
        }
    }

    @Test func decodingErrorsNameTheColumnNotTheValue() async throws {
        try await withTestConnection { connection in
            let row = try #require(try connection.query("SELECT NULL::int AS a, 'secret-text' AS b").first)
            #expect(throws: PostgresDecodingError.self) { try row.decode(Int.self, column: 0) }
            do {
                _ = try row.decode(Int.self, column: "b")
                Issue.record("expected a decoding error")
            } catch let error as PostgresDecodingError {
                #expect(error.description.contains("\"b\""))
                #expect(!error.description.contains("secret-text"))
            }
            #expect(throws: PostgresDecodingError.self) { try row.decode(Int.self, column: "missing") }
        }
    }

    @Test func executeReturnsAffectedRowsAndPreparedStatementsAreReused() async throws {
        try await withTestConnection { connection in
            try connection.execute(script: "CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)")
            for id in 0..<50 {
                try connection.execute("INSERT INTO counters (id, n) VALUES (\(id), \(id * 2))")
            }
            #expect(try connection.execute("UPDATE counters SET n = n + 1 WHERE id < \(10)") == 10)
            let prepared = try connection.query("SELECT count(*) FROM pg_prepared_statements")
            // INSERT, UPDATE, and this SELECT itself.
            #expect(try prepared.first?.decode(Int.self, column: 0) == 3)
        }
    }

    @Test func schemaChangeInvalidatingACachedStatementIsRetried() async throws {
        try await withTestConnection { connection in
            try connection.execute(script: "CREATE TABLE shapes (a int); INSERT INTO shapes VALUES (1)")
            #expect(try connection.query("SELECT * FROM shapes").first?.count == 1)
            try connection.execute(script: "ALTER TABLE shapes ADD COLUMN b int")
            #expect(try connection.query("SELECT * FROM shapes").first?.count == 2)
        }
    }

    @Test func runHopsOffThePool() async throws {
        try await withTestDatabase { url in
            let connection = try await offPool { try PostgresConnection.connect(url, logger: testLogger) }
            defer { connection.close() }
            let values = try await withThrowingTaskGroup(of: Int.self) { group in
                for value in 0..<20 {
                    group.addTask {
                        try await connection.run { try $0.query("SELECT \(value)").first!.decode(Int.self, column: 0) }
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(values.sorted() == Array(0..<20))
        }
    }
}
