/// Why migrations could not be applied. The description names the file concerned.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: String, Sendable {
            case missingDirectory, unreadableDirectory, invalidFileName, duplicateVersion, missingVersion,
                checksumMismatch
            case missingFile, failed
        }

        private let kind: Kind

        /// The directory does not exist (or is not a directory).
        public static let missingDirectory = Code(kind: .missingDirectory)
        /// The directory could not be listed or a file could not be read.
        public static let unreadableDirectory = Code(kind: .unreadableDirectory)
        /// A `.sql` file does not match `NNNN_name.sql`.
        public static let invalidFileName = Code(kind: .invalidFileName)
        /// Two files share a version number.
        public static let duplicateVersion = Code(kind: .duplicateVersion)
        /// The files' versions skip a number: a file is missing from the sequence.
        public static let missingVersion = Code(kind: .missingVersion)
        /// An already-applied file was edited.
        public static let checksumMismatch = Code(kind: .checksumMismatch)
        /// An applied version has no file any more.
        public static let missingFile = Code(kind: .missingFile)
        /// A migration's SQL failed (see ``MigrationError/underlying``).
        public static let failed = Code(kind: .failed)

        /// The code's name.
        public var description: String { kind.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable message naming the file.
    public var message: String
    /// The error that caused a ``Code/failed`` migration, usually a ``PostgresError``.
    public var underlying: (any Error)?

    /// Creates an error.
    public init(code: Code, message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// `MigrationError(checksumMismatch): 0002_users.sql was changed after it was applied ...`.
    public var description: String {
        var text = "MigrationError(\(code)): \(message)"
        if let underlying { text += ": \(underlying)" }
        return text
    }
}
