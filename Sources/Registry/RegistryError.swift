/// A registry failure with a one-line message for operators: a missing version, a blob that fails its sha256 or
/// does not load, a refused activation.
public struct RegistryError: Error, CustomStringConvertible, Sendable, Hashable {
    /// What went wrong.
    public var message: String

    /// - Parameter message: One line, naming the object and the fix where there is one.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
