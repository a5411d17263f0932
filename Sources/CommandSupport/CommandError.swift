/// A run-time failure of a command, printed as one line (`Error: <message>`) with a non-zero exit.
///
/// Flag problems use argument-parser's `ValidationError` in `validate()` instead, which also prints usage.
public struct CommandError: Error, CustomStringConvertible {
    /// The line printed after `Error: `.
    public var message: String

    /// A failure that prints as `message`.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
