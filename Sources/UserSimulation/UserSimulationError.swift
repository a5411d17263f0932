/// Why simulated users cannot run: a world folder that cannot be read, a scorer that answers nothing usable.
public struct UserSimulationError: Error, CustomStringConvertible, Sendable {
    /// One line for the operator.
    public var message: String

    /// An error with `message`.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
