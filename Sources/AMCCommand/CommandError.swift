/// A run-time failure of a command, printed as one line (`Error: <message>`) with a non-zero exit.
///
/// Flag problems use argument-parser's `ValidationError` in `validate()` instead, which also prints usage.
struct CommandError: Error, CustomStringConvertible {
    var message: String

    init(_ message: String) {
        self.message = message
    }

    var description: String { message }
}
