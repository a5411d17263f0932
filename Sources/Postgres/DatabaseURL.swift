/// A PostgreSQL URL or `key=value` conninfo string that never shows its secrets.
///
/// Its `description`, `debugDescription` and reflection (`dump`, `Mirror`) all show the string with every password
/// (`password`, `sslpassword`, the URL's `user:password@`) replaced by `********`, so a configuration or service
/// that stores one can be logged or dumped whole. Only ``unredacted`` gives the string as written, for libpq.
public struct DatabaseURL: Sendable, Hashable {
    private let value: String

    /// Wraps a URL (`postgresql://user:password@host/db?…`) or conninfo (`host=… password=…`) string.
    public init(_ value: String) {
        self.value = value
    }

    /// The string as given, passwords included: hand it to libpq only, never to a log or a message.
    public var unredacted: String { value }

    /// The string with every password replaced by `********`.
    public var redacted: String {
        PGConnInfo.scrub(value, secrets: PGConnInfo.secrets(in: value))
    }
}

extension DatabaseURL: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// ``redacted``.
    public var description: String { redacted }

    /// `DatabaseURL(` ``redacted`` `)`.
    public var debugDescription: String { "DatabaseURL(\(redacted))" }

    /// One child, `redacted`: reflection (`dump`, `Mirror`, the default description of a type holding this one)
    /// never reaches the secret.
    public var customMirror: Mirror {
        Mirror(self, children: ["redacted": redacted], displayStyle: .struct)
    }
}
