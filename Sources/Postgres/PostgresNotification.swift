/// A `NOTIFY` message received on a channel this connection `LISTEN`s to.
public struct PostgresNotification: Sendable, Hashable {
    /// The channel name.
    public var channel: String
    /// The payload (empty if none was given).
    public var payload: String
    /// The process ID of the notifying server backend.
    public var backendPID: Int32

    /// Creates a notification (for tests of code that consumes them).
    public init(channel: String, payload: String, backendPID: Int32) {
        self.channel = channel
        self.payload = payload
        self.backendPID = backendPID
    }
}
