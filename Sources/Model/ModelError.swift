/// Why a weights blob or a parameter set could not be decoded or built into a model.
public struct ModelError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable code.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The code string.
        public var rawValue: String
        /// Wraps a code string.
        /// - Parameter rawValue: The code.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code string.
        public var description: String { rawValue }

        /// The blob does not start with the `AMCW` magic.
        public static let badMagic = Code(rawValue: "bad_magic")
        /// The blob's format version is not supported.
        public static let unsupportedVersion = Code(rawValue: "unsupported_version")
        /// The blob ended early or has trailing bytes.
        public static let truncated = Code(rawValue: "truncated")
        /// A tensor name or shape does not match the header's configuration.
        public static let shapeMismatch = Code(rawValue: "shape_mismatch")
        /// The parameters name an architecture this build does not know.
        public static let unknownArchitecture = Code(rawValue: "unknown_architecture")
    }

    /// What went wrong.
    public var code: Code
    /// A short human-readable explanation (never contains weight values).
    public var message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: The code.
    ///   - message: The explanation.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
