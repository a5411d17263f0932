import Foundation
import Testing

@testable import Postgres

@Suite struct CopyTests {
    @Test func writerEscapesTextFormat() {
        let collected = LockedBox<[UInt8]>([])
        var writer = PostgresCopyWriter(sink: { bytes in
            collected.withLock { $0.append(contentsOf: bytes) }
            return true
        })
        writer.append("a\\b\tc\nd\re")
        writer.append(nil as String?)
        writer.append(-42 as Int)
        writer.append(Int64.min)
        writer.append(0 as Int32)
        writer.append(1.5)
        writer.append(bytea: [0, 0xAB, 0xFF])
        writer.endRow()
        writer.beginRow()
        writer.append("ü")
        Array("x\ty".utf8).withUnsafeBufferPointer { writer.append(utf8: $0) }
        let finished = writer.finish()
        #expect(finished)
        let text = String(decoding: collected.withLock { $0 }, as: UTF8.self)
        #expect(text == "a\\\\b\\tc\\nd\\re\t\\N\t-42\t-9223372036854775808\t0\t1.5\t\\\\x00abff\nü\tx\\ty\n")
        #expect(writer.rowCount == 2)
    }

    @Test func hundredThousandRowsRoundTripExactly() async throws {
        try await withTestConnection { connection in
            try connection.execute(
                script: "CREATE TABLE events (id int8 PRIMARY KEY, label text, score float8, payload bytea, note text)"
            )
            let labels = [
                "plain", "tab\there", "new\nline", "back\\slash", "cr\rlf\r\n", "ünïcødé 🌍", "\\N", "", "\\.",
                "quote ' and \"",
            ]
            let count = 100_000
            let start = ContinuousClock.now
            let copied = try connection.copyIn("COPY events (id, label, score, payload, note) FROM STDIN") { writer in
                for id in 0..<count {
                    writer.append(id)
                    writer.append(labels[id % labels.count] + String(id))
                    writer.append(Double(id) / 7)
                    writer.append(bytea: [UInt8(truncatingIfNeeded: id), 0, 0x5C])
                    writer.append(id % 3 == 0 ? nil : "n\(id)")
                    writer.endRow()
                }
            }
            let elapsed = ContinuousClock.now - start
            #expect(copied == count)
            print("copyIn: \(count) rows in \(elapsed)")

            let rows = try connection.query("SELECT id, label, score, payload, note FROM events ORDER BY id")
            #expect(rows.count == count)
            var mismatches = 0
            for (id, row) in rows.enumerated() {
                let ok =
                    (try? row.decode(Int.self, column: 0)) == id
                    && (try? row.decode(String.self, column: 1)) == labels[id % labels.count] + String(id)
                    && (try? row.decode(Double.self, column: 2)) == Double(id) / 7
                    && (try? row.decode([UInt8].self, column: 3)) == [UInt8(truncatingIfNeeded: id), 0, 0x5C]
                    && (try? row.decode(String?.self, column: 4)) == (id % 3 == 0 ? nil : "n\(id)")
                if !ok { mismatches += 1 }
            }
            #expect(mismatches == 0)
        }
    }

    @Test func throwingBodyAbortsTheCopy() async throws {
        try await withTestConnection { connection in
            try connection.execute(script: "CREATE TABLE events (id int8 PRIMARY KEY, label text)")
            #expect(throws: TestFailure(marker: "stop")) {
                try connection.copyIn("COPY events (id, label) FROM STDIN") { writer in
                    for id in 0..<50_000 {  // more than one 256 KB chunk reaches the server
                        writer.append(id)
                        writer.append("row \(id)")
                        writer.endRow()
                    }
                    throw TestFailure(marker: "stop")
                }
            }
            #expect(try connection.query("SELECT count(*) FROM events").first?.decode(Int.self, column: 0) == 0)
            #expect(connection.isConnected)
        }
    }

    @Test func badDataFailsWithServerError() async throws {
        try await withTestConnection { connection in
            try connection.execute(script: "CREATE TABLE events (id int8 PRIMARY KEY)")
            do {
                _ = try connection.copyIn("COPY events (id) FROM STDIN") { writer in
                    writer.append(1)
                    writer.endRow()
                    writer.append(1)
                    writer.endRow()
                }
                Issue.record("expected a unique violation")
            } catch let error as PostgresError {
                #expect(error.sqlState == .uniqueViolation)
            }
            #expect(try connection.query("SELECT count(*) FROM events").first?.decode(Int.self, column: 0) == 0)
        }
    }
}
