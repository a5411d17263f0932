import Crdkafka

/// A librdkafka error code (`rd_kafka_resp_err_t`), wrapped so that codes unknown to this module still round-trip.
///
/// Negative values are librdkafka-internal conditions (`RD_KAFKA_RESP_ERR__*`); positive values are Kafka protocol
/// error codes as returned by brokers.
public struct KafkaErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The numeric `rd_kafka_resp_err_t` value.
    public var rawValue: Int32

    /// Wraps a raw `rd_kafka_resp_err_t` value.
    /// - Parameter rawValue: Any librdkafka or Kafka protocol error code.
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    init(_ err: rd_kafka_resp_err_t) {
        self.rawValue = err.rawValue
    }

    var rdKafkaValue: rd_kafka_resp_err_t {
        rd_kafka_resp_err_t(rawValue: self.rawValue)
    }

    /// The librdkafka symbolic name without the `RD_KAFKA_RESP_ERR_` prefix, e.g. `_TRANSPORT` or `OFFSET_OUT_OF_RANGE`.
    public var name: String {
        String(cString: rd_kafka_err2name(self.rdKafkaValue))
    }

    /// `name` plus librdkafka's human-readable text.
    public var description: String {
        "\(self.name) (\(self.rawValue)): \(String(cString: rd_kafka_err2str(self.rdKafkaValue)))"
    }

    /// Whether an error with this code is usually transient (retrying the operation later can succeed).
    public var isTransient: Bool {
        Self.transientCodes.contains(self)
    }

    // MARK: - librdkafka-internal codes

    /// `RD_KAFKA_RESP_ERR_NO_ERROR` (0).
    public static let noError = KafkaErrorCode(RD_KAFKA_RESP_ERR_NO_ERROR)
    /// `RD_KAFKA_RESP_ERR__FAIL`: generic local failure.
    public static let fail = KafkaErrorCode(RD_KAFKA_RESP_ERR__FAIL)
    /// `RD_KAFKA_RESP_ERR__BAD_MSG`: a received message was malformed.
    public static let badMessage = KafkaErrorCode(RD_KAFKA_RESP_ERR__BAD_MSG)
    /// `RD_KAFKA_RESP_ERR__DESTROY`: the handle is being destroyed.
    public static let destroy = KafkaErrorCode(RD_KAFKA_RESP_ERR__DESTROY)
    /// `RD_KAFKA_RESP_ERR__TRANSPORT`: broker transport (connection) failure.
    public static let transport = KafkaErrorCode(RD_KAFKA_RESP_ERR__TRANSPORT)
    /// `RD_KAFKA_RESP_ERR__RESOLVE`: host name resolution failed.
    public static let resolve = KafkaErrorCode(RD_KAFKA_RESP_ERR__RESOLVE)
    /// `RD_KAFKA_RESP_ERR__MSG_TIMED_OUT`: a produced message was not delivered within `message.timeout.ms`.
    public static let messageTimedOut = KafkaErrorCode(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
    /// `RD_KAFKA_RESP_ERR__PARTITION_EOF`: reached the end of a partition (only with `enable.partition.eof=true`).
    public static let partitionEOF = KafkaErrorCode(RD_KAFKA_RESP_ERR__PARTITION_EOF)
    /// `RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION`: the partition does not exist in the cluster.
    public static let unknownPartition = KafkaErrorCode(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
    /// `RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC`: the topic does not exist in the cluster.
    public static let unknownTopic = KafkaErrorCode(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
    /// `RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN`: no broker connection is up.
    public static let allBrokersDown = KafkaErrorCode(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
    /// `RD_KAFKA_RESP_ERR__INVALID_ARG`: an argument (or configuration property) was invalid.
    public static let invalidArgument = KafkaErrorCode(RD_KAFKA_RESP_ERR__INVALID_ARG)
    /// `RD_KAFKA_RESP_ERR__TIMED_OUT`: a local operation timed out.
    public static let timedOut = KafkaErrorCode(RD_KAFKA_RESP_ERR__TIMED_OUT)
    /// `RD_KAFKA_RESP_ERR__QUEUE_FULL`: the local producer queue is full.
    public static let queueFull = KafkaErrorCode(RD_KAFKA_RESP_ERR__QUEUE_FULL)
    /// `RD_KAFKA_RESP_ERR__WAIT_COORD`: waiting for the group coordinator.
    public static let waitCoordinator = KafkaErrorCode(RD_KAFKA_RESP_ERR__WAIT_COORD)
    /// `RD_KAFKA_RESP_ERR__STATE`: the operation is not allowed in the current state.
    public static let state = KafkaErrorCode(RD_KAFKA_RESP_ERR__STATE)
    /// `RD_KAFKA_RESP_ERR__AUTHENTICATION`: SASL/TLS authentication failed.
    public static let authentication = KafkaErrorCode(RD_KAFKA_RESP_ERR__AUTHENTICATION)
    /// `RD_KAFKA_RESP_ERR__NO_OFFSET`: no offset to commit or fetch.
    public static let noOffset = KafkaErrorCode(RD_KAFKA_RESP_ERR__NO_OFFSET)
    /// `RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE`: timed out waiting in a local queue.
    public static let timedOutQueue = KafkaErrorCode(RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE)
    /// `RD_KAFKA_RESP_ERR__FATAL`: a fatal error was raised; the client must be recreated.
    public static let fatal = KafkaErrorCode(RD_KAFKA_RESP_ERR__FATAL)
    /// `RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET`: the fetch position was reset after an out-of-range error
    /// (with `auto.offset.reset=error`).
    public static let autoOffsetReset = KafkaErrorCode(RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)

    // MARK: - Kafka protocol codes

    /// `OFFSET_OUT_OF_RANGE` (1): the requested offset is outside the partition's log (e.g. trimmed).
    public static let offsetOutOfRange = KafkaErrorCode(RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
    /// `UNKNOWN_TOPIC_OR_PART` (3).
    public static let unknownTopicOrPartition = KafkaErrorCode(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    /// `LEADER_NOT_AVAILABLE` (5).
    public static let leaderNotAvailable = KafkaErrorCode(RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
    /// `NOT_LEADER_FOR_PARTITION` (6).
    public static let notLeaderForPartition = KafkaErrorCode(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)
    /// `REQUEST_TIMED_OUT` (7).
    public static let requestTimedOut = KafkaErrorCode(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT)
    /// `BROKER_NOT_AVAILABLE` (8).
    public static let brokerNotAvailable = KafkaErrorCode(RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE)
    /// `MSG_SIZE_TOO_LARGE` (10).
    public static let messageSizeTooLarge = KafkaErrorCode(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
    /// `NETWORK_EXCEPTION` (13).
    public static let networkException = KafkaErrorCode(RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION)
    /// `COORDINATOR_LOAD_IN_PROGRESS` (14).
    public static let coordinatorLoadInProgress = KafkaErrorCode(RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS)
    /// `COORDINATOR_NOT_AVAILABLE` (15).
    public static let coordinatorNotAvailable = KafkaErrorCode(RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE)
    /// `NOT_COORDINATOR` (16).
    public static let notCoordinator = KafkaErrorCode(RD_KAFKA_RESP_ERR_NOT_COORDINATOR)
    /// `NOT_ENOUGH_REPLICAS` (19).
    public static let notEnoughReplicas = KafkaErrorCode(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS)
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND` (20).
    public static let notEnoughReplicasAfterAppend = KafkaErrorCode(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND)
    /// `ILLEGAL_GENERATION` (22).
    public static let illegalGeneration = KafkaErrorCode(RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION)
    /// `UNKNOWN_MEMBER_ID` (25).
    public static let unknownMemberID = KafkaErrorCode(RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID)
    /// `REBALANCE_IN_PROGRESS` (27).
    public static let rebalanceInProgress = KafkaErrorCode(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER` (45): idempotent producer sequence gap.
    public static let outOfOrderSequenceNumber = KafkaErrorCode(RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER)
    /// `KAFKA_STORAGE_ERROR` (56).
    public static let kafkaStorageError = KafkaErrorCode(RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR)
    /// `SASL_AUTHENTICATION_FAILED` (58).
    public static let saslAuthenticationFailed = KafkaErrorCode(RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED)

    private static let transientCodes: Set<KafkaErrorCode> = [
        .transport, .resolve, .allBrokersDown, .timedOut, .timedOutQueue, .queueFull, .messageTimedOut,
        .waitCoordinator, .unknownTopicOrPartition, .leaderNotAvailable, .notLeaderForPartition, .requestTimedOut,
        .brokerNotAvailable, .networkException, .coordinatorLoadInProgress, .coordinatorNotAvailable,
        .notCoordinator, .notEnoughReplicas, .notEnoughReplicasAfterAppend, .rebalanceInProgress, .kafkaStorageError,
    ]
}
