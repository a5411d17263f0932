import CLibPQ

extension PostgresConnection {
    /// Bulk-loads rows with `COPY ... FROM STDIN` (text format).
    ///
    /// `body` writes rows into a buffered ``PostgresCopyWriter``, which hands data to libpq in 256 KB
    /// chunks. When `body` returns the COPY is ended (`PQputCopyEnd`) and every result is drained.
    /// If `body` throws, the COPY is aborted, so no row is kept, and the error is rethrown.
    ///
    /// - Important: `sql` must be a `COPY table (columns) FROM STDIN` statement whose table and column
    ///   names come from code, never from input.
    /// - Parameters:
    ///   - sql: The COPY statement, for example `COPY events (id, name) FROM STDIN`.
    ///   - body: Writes the rows.
    /// - Returns: The number of rows copied, as reported by the server.
    /// - Throws: What `body` threw, or a ``PostgresError`` (for example a constraint violation).
    public func copyIn(_ sql: String, _ body: (inout PostgresCopyWriter) throws -> Void) throws -> Int {
        try withHandle { handle in
            do {
                guard let started = handle.exec(sql) else { throw handle.connectionError() }
                guard started.status == PGRES_COPY_IN else {
                    if started.isSuccess {
                        throw PostgresError(
                            sqlState: nil,
                            message: "statement is not COPY ... FROM STDIN",
                            isTransient: false
                        )
                    }
                    throw handle.error(from: started)
                }
            }

            var writer = PostgresCopyWriter(sink: { handle.putCopyData($0) })
            do {
                try body(&writer)
            } catch {
                _ = handle.putCopyEnd(abortMessage: "COPY aborted by the client")
                handle.drainResults()
                throw error
            }
            let sent = writer.finish()
            guard handle.putCopyEnd(abortMessage: sent ? nil : "COPY aborted: sending data failed") else {
                handle.drainResults()
                throw handle.connectionError()
            }

            var rows = 0
            var firstError: PostgresError?
            while let result = handle.nextResult() {
                if result.status == PGRES_COPY_IN {
                    // Only if libpq could not end the COPY above; avoid looping forever.
                    _ = handle.putCopyEnd(abortMessage: "COPY aborted")
                } else if result.isSuccess {
                    rows += result.affectedRows
                } else if firstError == nil {
                    firstError = handle.error(from: result)
                }
            }
            if let firstError { throw firstError }
            if !sent { throw handle.connectionError() }
            return rows
        }
    }
}
