import CLibPQ

/// Owns one `PGresult`; `PQclear` runs when it goes out of scope.
struct PGResult: ~Copyable {
    private let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        PQclear(pointer)
    }

    var status: ExecStatusType { PQresultStatus(pointer) }

    /// `COMMAND_OK`, `TUPLES_OK` (or `SINGLE_TUPLE`/`COPY_*` where the caller expects them).
    var isSuccess: Bool {
        status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK
    }

    /// PQcmdTuples as an integer (0 when the command reports no count).
    var affectedRows: Int {
        guard let text = PQcmdTuples(pointer) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    var commandStatus: String {
        PQcmdStatus(pointer).map { String(cString: $0) } ?? ""
    }

    func errorField(_ code: UInt8) -> String? {
        PQresultErrorField(pointer, Int32(code)).map { String(cString: $0) }
    }

    /// Copies every value out as raw bytes (for results requested in binary format), row by row.
    func binaryRows() -> [[[UInt8]?]] {
        let rowCount = PQntuples(pointer)
        let columnCount = PQnfields(pointer)
        return (0..<rowCount).map { row in
            (0..<columnCount).map { column -> [UInt8]? in
                guard PQgetisnull(pointer, row, column) == 0 else { return nil }
                let length = Int(PQgetlength(pointer, row, column))
                let raw = UnsafeRawPointer(PQgetvalue(pointer, row, column)!)
                return Array(UnsafeRawBufferPointer(start: raw, count: length))
            }
        }
    }

    /// Copies every row out into Swift values.
    func rows() -> [PostgresRow] {
        let rowCount = Int(PQntuples(pointer))
        let columnCount = Int(PQnfields(pointer))
        let columns = PostgresColumns(
            names: (0..<columnCount).map { column in
                PQfname(pointer, Int32(column)).map { String(cString: $0) } ?? ""
            }
        )
        var rows = [PostgresRow]()
        rows.reserveCapacity(rowCount)
        for row in 0..<Int32(rowCount) {
            var values = [String?]()
            values.reserveCapacity(columnCount)
            for column in 0..<Int32(columnCount) {
                if PQgetisnull(pointer, row, column) != 0 {
                    values.append(nil)
                } else {
                    let length = Int(PQgetlength(pointer, row, column))
                    let raw = UnsafeRawPointer(PQgetvalue(pointer, row, column)!)
                    let buffer = UnsafeBufferPointer(start: raw.assumingMemoryBound(to: UInt8.self), count: length)
                    values.append(String(decoding: buffer, as: UTF8.self))
                }
            }
            rows.append(PostgresRow(columns: columns, values: values))
        }
        return rows
    }
}

/// Error-field codes from `postgres_ext.h`.
enum PGDiag {
    static let sqlState = UInt8(ascii: "C")
    static let messagePrimary = UInt8(ascii: "M")
    static let messageDetail = UInt8(ascii: "D")
    static let severity = UInt8(ascii: "V")
}
