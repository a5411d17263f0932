import CLibPQ
import Foundation
import Logging

/// Owns one `PGconn`. `PQfinish` runs in `deinit`, and on every failed connection attempt.
///
/// Not thread-safe (libpq connections are not); ``PostgresConnection`` serialises access.
final class PGConnection {
    private let pointer: OpaquePointer
    /// libpq keeps an unretained pointer to this for the notice receiver. It is a stored property,
    /// so it is released only after `deinit` has called `PQfinish` (no callback can follow).
    private let noticeContext: PGNoticeContext

    private init(pointer: OpaquePointer, noticeContext: PGNoticeContext) {
        self.pointer = pointer
        self.noticeContext = noticeContext
        PQsetNoticeReceiver(
            pointer,
            { context, result in
                guard let context, let result else { return }
                let box = Unmanaged<PGNoticeContext>.fromOpaque(context).takeUnretainedValue()
                let message = PQresultErrorField(result, Int32(PGDiag.messagePrimary)).map { String(cString: $0) }
                let sqlState = PQresultErrorField(result, Int32(PGDiag.sqlState)).map { String(cString: $0) }
                let severity = PQresultErrorField(result, Int32(PGDiag.severity)).map { String(cString: $0) }
                // A server WARNING (a migration naming what it left alone, say) is for the operator to see; the
                // routine NOTICE, DEBUG and INFO chatter is not.
                box.logger.log(
                    level: severity == "WARNING" ? .info : .debug,
                    severity == "WARNING" ? "Postgres warning" : "Postgres notice",
                    metadata: [
                        PostgresLoggingKeys.sqlState: "\(sqlState ?? "")",
                        PostgresLoggingKeys.message: "\(message ?? "")",
                    ]
                )
            },
            Unmanaged.passUnretained(noticeContext).toOpaque()
        )
    }

    deinit {
        PQfinish(pointer)
    }

    /// Connects (blocking).
    /// - Throws: ``PostgresError`` with credentials scrubbed from the message.
    static func connect(_ conninfo: String, logger: Logger) throws -> PGConnection {
        let secrets = PGConnInfo.secrets(in: conninfo)
        try PGConnInfo.validate(conninfo, secrets: secrets)

        // Later keywords override earlier ones: the URL may override the timeout and the
        // application name, but the client encoding is always UTF-8 (all text is decoded as UTF-8).
        let keywords = ["connect_timeout", "fallback_application_name", "dbname", "client_encoding"]
        let values = ["10", "amc-stream", conninfo, "UTF8"]
        let raw: OpaquePointer? = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let raw else {
            throw PostgresError(sqlState: nil, message: "out of memory allocating a connection", isTransient: true)
        }
        guard PQstatus(raw) == CONNECTION_OK else {
            let message = PGConnInfo.scrub(
                PostgresError.normalise(String(cString: PQerrorMessage(raw))),
                secrets: secrets
            )
            PQfinish(raw)
            throw PostgresError(
                sqlState: nil,
                message: message.isEmpty ? "connection failed" : message,
                isTransient: PGConnInfo.isTransientConnectFailure(message)
            )
        }
        return PGConnection(pointer: raw, noticeContext: PGNoticeContext(logger: logger))
    }

    /// Scoped access to the raw handle; never let it escape.
    func withPointer<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try body(pointer)
    }

    var isOK: Bool { PQstatus(pointer) == CONNECTION_OK }

    var transactionStatus: PGTransactionStatusType { PQtransactionStatus(pointer) }

    var errorMessage: String {
        PostgresError.normalise(String(cString: PQerrorMessage(pointer)))
    }

    var serverProcessID: Int32 { PQbackendPID(pointer) }

    var databaseName: String { PQdb(pointer).map { String(cString: $0) } ?? "" }

    var hostName: String { PQhost(pointer).map { String(cString: $0) } ?? "" }

    // MARK: - Commands

    /// `PQexec`: simple protocol, several statements allowed.
    func exec(_ sql: String) -> PGResult? {
        PQexec(pointer, sql).map(PGResult.init)
    }

    /// `PQprepare`.
    func prepare(name: String, sql: String, types: [UInt32]) -> PGResult? {
        PQprepare(pointer, name, sql, Int32(types.count), types).map(PGResult.init)
    }

    /// `PQexecPrepared` (name non-nil) or `PQexecParams` (name nil); text results unless `binaryResults`.
    func exec(
        prepared name: String?,
        sql: String,
        types: [UInt32],
        values: [PostgresValue],
        binaryResults: Bool = false
    ) -> PGResult? {
        // One contiguous buffer for all parameters; text values are NUL-terminated.
        var storage = [UInt8]()
        var offsets = [Int?]()
        var lengths = [Int32]()
        var formats = [Int32]()
        for value in values {
            switch value {
            case .null:
                offsets.append(nil)
                lengths.append(0)
                formats.append(0)
            case .text(let text):
                offsets.append(storage.count)
                storage.append(contentsOf: text.utf8)
                storage.append(0)
                lengths.append(Int32(text.utf8.count))
                formats.append(0)
            case .binary(let bytes):
                offsets.append(storage.count)
                storage.append(contentsOf: bytes)
                storage.append(0)
                lengths.append(Int32(bytes.count))
                formats.append(1)
            }
        }
        if storage.isEmpty { storage.append(0) }
        let raw: OpaquePointer? = storage.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            let pointers: [UnsafePointer<CChar>?] = offsets.map { $0.map { base + $0 } }
            let result: OpaquePointer?
            if let name {
                result = PQexecPrepared(
                    pointer,
                    name,
                    Int32(values.count),
                    pointers,
                    lengths,
                    formats,
                    binaryResults ? 1 : 0
                )
            } else {
                result = PQexecParams(
                    pointer,
                    sql,
                    Int32(values.count),
                    types,
                    pointers,
                    lengths,
                    formats,
                    binaryResults ? 1 : 0
                )
            }
            return result
        }
        return raw.map(PGResult.init)
    }

    /// `PQgetResult`: the next pending result, `nil` when the command is complete.
    func nextResult() -> PGResult? {
        PQgetResult(pointer).map(PGResult.init)
    }

    /// Discards every pending result.
    func drainResults() {
        while let result = nextResult() {
            // A COPY that is still in progress would otherwise loop forever.
            if result.status == PGRES_COPY_IN {
                _ = PQputCopyEnd(pointer, "cancelled by client")
            } else if result.status == PGRES_COPY_OUT {
                break
            }
        }
    }

    /// `PQputCopyData`; false on failure.
    func putCopyData(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        return PQputCopyData(pointer, base.assumingMemoryBound(to: CChar.self), Int32(bytes.count)) == 1
    }

    /// `PQputCopyEnd`, with an error message to abort the COPY; false on failure.
    func putCopyEnd(abortMessage: String?) -> Bool {
        if let abortMessage {
            return PQputCopyEnd(pointer, abortMessage) == 1
        }
        return PQputCopyEnd(pointer, nil) == 1
    }

    /// `PQescapeIdentifier`: a double-quoted identifier.
    func escapeIdentifier(_ identifier: String) -> String? {
        guard let escaped = PQescapeIdentifier(pointer, identifier, identifier.utf8.count) else { return nil }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    // MARK: - Notifications

    var socket: Int32 { PQsocket(pointer) }

    /// `PQconsumeInput`; false if the connection failed.
    func consumeInput() -> Bool { PQconsumeInput(pointer) == 1 }

    /// Every notification libpq has already read.
    func takeNotifications() -> [PostgresNotification] {
        var notifications = [PostgresNotification]()
        while let notify = PQnotifies(pointer) {
            defer { PQfreemem(notify) }
            notifications.append(
                PostgresNotification(
                    channel: String(cString: notify.pointee.relname),
                    payload: notify.pointee.extra.map { String(cString: $0) } ?? "",
                    backendPID: notify.pointee.be_pid
                )
            )
        }
        return notifications
    }

    // MARK: - Errors

    /// The error for a failed command, from the result's error fields.
    func error(from result: borrowing PGResult, file: String = #fileID, line: Int = #line) -> PostgresError {
        PostgresError.fromServer(
            sqlState: result.errorField(PGDiag.sqlState).map(SQLState.init(rawValue:)),
            message: result.errorField(PGDiag.messagePrimary) ?? errorMessage,
            detail: result.errorField(PGDiag.messageDetail),
            connectionLost: !isOK,
            file: file,
            line: line
        )
    }

    /// The error when libpq returned no result at all (connection lost, out of memory).
    func connectionError(file: String = #fileID, line: Int = #line) -> PostgresError {
        let message = errorMessage
        return PostgresError.fromServer(
            sqlState: nil,
            message: message.isEmpty ? "connection lost" : message,
            detail: nil,
            connectionLost: true,
            file: file,
            line: line
        )
    }
}

/// The context handed to libpq's notice receiver.
final class PGNoticeContext {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

/// Calls `body` with a NULL-terminated array of C strings that live for the duration of the call.
func withCStringArray<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let duplicated = strings.map { strdup($0) }
    defer {
        for pointer in duplicated { free(pointer) }
    }
    return body(duplicated.map { UnsafePointer($0) } + [nil])
}
