import Foundation

/// An error reported by the server or by libpq.
///
/// - Important: ``message`` and ``description`` never contain bound parameter values or passwords.
///   ``detail`` is dropped for integrity-constraint errors (class `23`, whose DETAIL quotes row values),
///   and quoted input values are redacted from data-exception messages (class `22`).
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// The SQLSTATE the server reported, or `nil` for connection-level failures (refused, lost, bad URL).
    public var sqlState: SQLState?
    /// The primary message from the server or libpq.
    public var message: String
    /// The server's DETAIL field, when it cannot contain row values.
    public var detail: String?
    /// Whether retrying the operation (on a fresh connection or transaction) may succeed.
    ///
    /// True for lost or refused connections, class `08`, `40001`, `40P01`, class `53`,
    /// `57P01`–`57P03` and `55P03`.
    public var isTransient: Bool
    /// Where in this module the error was raised (`#fileID:#line`), for debugging.
    public var location: String

    /// Creates an error. Other modules use this mostly to simulate failures in tests.
    /// - Parameters:
    ///   - sqlState: The SQLSTATE, `nil` for connection-level failures.
    ///   - message: The primary message; must not contain bound values or credentials.
    ///   - detail: Optional detail text.
    ///   - isTransient: Whether a retry may succeed; defaults to ``isTransient(_:)`` of `sqlState`.
    public init(
        sqlState: SQLState?,
        message: String,
        detail: String? = nil,
        isTransient: Bool? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.isTransient = isTransient ?? Self.isTransient(sqlState)
        self.location = "\(file):\(line)"
    }

    /// A one-line summary: SQLSTATE, message, detail and whether the error is transient.
    public var description: String {
        var text = "PostgresError"
        if let sqlState { text += "(\(sqlState.rawValue))" }
        text += ": \(message)"
        if let detail, !detail.isEmpty { text += " [detail: \(detail)]" }
        if isTransient { text += " (transient)" }
        return text
    }

    /// Whether an error with this SQLSTATE is worth retrying.
    /// - Parameter sqlState: The code; `nil` (no code, e.g. a lost connection) counts as transient.
    /// - Returns: `true` for connection exceptions, serialization failures, deadlocks, resource
    ///   exhaustion, shutdowns and lock timeouts.
    public static func isTransient(_ sqlState: SQLState?) -> Bool {
        guard let sqlState else { return true }
        switch sqlState.errorClass {
        case "08", "53": return true
        default: break
        }
        switch sqlState {
        case .serializationFailure, .deadlockDetected, .adminShutdown, .crashShutdown, .cannotConnectNow,
            .lockNotAvailable:
            return true
        default:
            return false
        }
    }
}

// MARK: - Sanitising server text

extension PostgresError {
    /// Builds an error from server fields, applying the redaction rules above.
    static func fromServer(
        sqlState: SQLState?,
        message: String,
        detail: String?,
        connectionLost: Bool,
        file: String = #fileID,
        line: Int = #line
    ) -> PostgresError {
        var message = Self.normalise(message)
        var detail = detail.map(Self.normalise)
        if let sqlState {
            switch sqlState.errorClass {
            case "23":
                // "Key (email)=(alice@example.com) already exists." quotes row values.
                detail = nil
            case "22":
                // 'invalid input syntax for type integer: "abc"' quotes the bound value.
                message = Self.redactQuotedValue(message)
                detail = nil
            default:
                break
            }
        }
        return PostgresError(
            sqlState: sqlState,
            message: message.isEmpty ? "unknown error" : message,
            detail: detail,
            isTransient: connectionLost || Self.isTransient(sqlState),
            file: file,
            line: line
        )
    }

    /// Collapses libpq's multi-line messages ("...\n\tIs the server running...") into one line.
    static func normalise(_ text: String) -> String {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\t" || $0 == "\r" })
            .map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty }
            .joined(separator: " ")
    }

    /// `prefix: "value"` → `prefix: "…"`.
    static func redactQuotedValue(_ message: String) -> String {
        guard let range = message.range(of: ": \"") else { return message }
        return message[..<range.lowerBound] + ": \"…\""
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        var slice = self[...]
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return String(slice)
    }
}
