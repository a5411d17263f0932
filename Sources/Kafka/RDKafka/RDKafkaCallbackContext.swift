import Crdkafka
import Logging
import Synchronization

/// Everything librdkafka's C callbacks need, reached through the configuration opaque.
///
/// - Important: librdkafka holds an **unretained** pointer to this object (`rd_kafka_conf_set_opaque`, read back
///   with `rd_kafka_opaque`). The owning ``RDKafkaClient`` keeps it alive through a strong stored property and calls
///   `rd_kafka_destroy` in its `deinit` *body*, which runs before stored properties are released; once
///   `rd_kafka_destroy` returns, librdkafka has joined its threads and invokes no further callbacks. So the pointer
///   is valid for every callback. Never hand the opaque to a handle that can outlive its ``RDKafkaClient``.
final class RDKafkaCallbackContext: Sendable {
    /// Mutable state written by callbacks and read by the public wrappers.
    struct State {
        var deliveredCount = 0
        var failedCount = 0
        var lastDeliveryError: KafkaError?
        /// Failed deliveries of messages sent with a delivery tag, oldest first (at most ``maxFailedDeliveries``).
        var failedDeliveries: [KafkaProducer.FailedDelivery] = []
        /// Errors from the error callback, handed out by the next consumer batch.
        var pendingErrors: [KafkaError] = []
        /// Partitions currently assigned through our rebalance callback.
        var assignment: Set<TopicPartition> = []
        /// Incremented by every rebalance callback, so a poll can tell that one ran inside it.
        var rebalanceGeneration = 0
        /// An error thrown by `onAssign` (or from assigning), rethrown by the poll that ran the callback.
        var rebalanceError: (any Error)?
    }

    /// Consumer rebalance hooks (see ``KafkaConsumer``).
    struct RebalanceHandlers: Sendable {
        var onAssign: @Sendable ([TopicPartition]) throws -> [TopicPartition: KafkaOffset]
        var onRevoke: @Sendable ([TopicPartition]) -> Void
    }

    /// Upper bound on ``State/pendingErrors`` so a consumer that never polls does not grow without bound.
    static let maxPendingErrors = 256
    /// Upper bound on ``State/failedDeliveries`` (failures past it are still counted, not kept).
    static let maxFailedDeliveries = 10_000

    let logger: Logger
    let collectsErrors: Bool
    let rebalanceHandlers: RebalanceHandlers?
    let state = Mutex(State())
    /// The values of the client's sensitive properties (see ``KafkaConfig``), cut out of every librdkafka text
    /// before it is logged or surfaced: librdkafka's own messages may quote configured values.
    let secrets: [String]

    init(
        logger: Logger,
        config: KafkaConfig,
        collectsErrors: Bool = false,
        rebalanceHandlers: RebalanceHandlers? = nil
    ) {
        self.logger = logger
        self.collectsErrors = collectsErrors
        self.rebalanceHandlers = rebalanceHandlers
        self.secrets = config.properties.filter { KafkaConfig.isSensitive(key: $0.key) && !$0.value.isEmpty }
            .map(\.value).sorted { $0.count > $1.count }
    }

    /// `text` with every secret value replaced by `<redacted>`.
    func redacted(_ text: String) -> String {
        secrets.reduce(text) { $0.replacing($1, with: "<redacted>") }
    }

    /// Records an error for the next consumer batch (if this context collects errors).
    func enqueue(_ error: KafkaError) {
        guard self.collectsErrors else { return }
        self.state.withLock { state in
            if state.pendingErrors.count >= Self.maxPendingErrors {
                state.pendingErrors.removeFirst()
            }
            state.pendingErrors.append(error)
        }
    }

    /// Removes and returns the errors collected so far.
    func takePendingErrors() -> [KafkaError] {
        self.state.withLock { state in
            defer { state.pendingErrors.removeAll() }
            return state.pendingErrors
        }
    }

    /// Removes and returns a stored rebalance error.
    func takeRebalanceError() -> (any Error)? {
        self.state.withLock { state in
            defer { state.rebalanceError = nil }
            return state.rebalanceError
        }
    }

    /// The context behind a handle's opaque. Only valid inside callbacks of a live ``RDKafkaClient``.
    static func from(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaCallbackContext? {
        guard let opaque else { return nil }
        return Unmanaged<RDKafkaCallbackContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}
