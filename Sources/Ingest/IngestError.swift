/// Why `amc ingest` stopped on its own (not a database or Kafka client error, which are rethrown as they are).
public struct IngestError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in one line.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
