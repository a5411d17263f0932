/// Kafka protocol request API keys, for ``MockKafkaCluster/pushRequestErrors(apiKey:errors:)``.
public enum KafkaAPIKey {
    /// Produce (0).
    public static let produce: Int16 = 0
    /// Fetch (1).
    public static let fetch: Int16 = 1
    /// ListOffsets (2).
    public static let listOffsets: Int16 = 2
    /// Metadata (3).
    public static let metadata: Int16 = 3
    /// OffsetCommit (8).
    public static let offsetCommit: Int16 = 8
    /// OffsetFetch (9).
    public static let offsetFetch: Int16 = 9
    /// FindCoordinator (10).
    public static let findCoordinator: Int16 = 10
    /// JoinGroup (11).
    public static let joinGroup: Int16 = 11
    /// Heartbeat (12).
    public static let heartbeat: Int16 = 12
    /// SyncGroup (14).
    public static let syncGroup: Int16 = 14
}
