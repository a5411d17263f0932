import Crdkafka
import Logging
import Synchronization

/// Owns one `rd_kafka_t` and the callback context its C callbacks reach through the opaque.
///
/// `@unchecked Sendable`: librdkafka documents the `rd_kafka_t` handle as thread-safe — every public API function may
/// be called on it from any thread (INTRODUCTION.md, "Threads and callbacks"). The only Swift state is immutable
/// (`let`) or behind a `Mutex` (``RDKafkaCallbackContext``). Call-order constraints that librdkafka *does* impose on
/// consumers (one polling thread) are documented on ``KafkaConsumer``.
final class RDKafkaClient: @unchecked Sendable {
    /// Which callbacks and `rd_kafka_type_t` to use.
    enum Role {
        case producer
        case consumer
        /// A producer-type handle used only for admin requests (``KafkaAdmin``); only log/error callbacks.
        case admin
        /// The hidden producer-type handle that hosts a mock cluster; only log/error callbacks.
        case mockHost
    }

    /// `rd_kafka_t *`; destroyed in `deinit`, never handed out except through ``withHandle(_:)``.
    private let handle: OpaquePointer
    /// Kept alive for as long as `handle` exists (librdkafka holds it unretained; see ``RDKafkaCallbackContext``).
    let context: RDKafkaCallbackContext
    let logger: Logger
    private let consumerClosed = Mutex(false)

    private init(handle: OpaquePointer, context: RDKafkaCallbackContext, logger: Logger) {
        self.handle = handle
        self.context = context
        self.logger = logger
    }

    deinit {
        // Destroy first, while `context` (a stored property) is still alive: no callback runs after this returns.
        rd_kafka_destroy(self.handle)
    }

    /// Creates the handle.
    /// - Parameters:
    ///   - role: Producer, consumer or mock host.
    ///   - properties: Ordered librdkafka properties.
    ///   - context: Callback context; retained by the returned client.
    ///   - logger: Logger for configuration diagnostics.
    /// - Throws: ``KafkaError`` if a property is invalid or `rd_kafka_new` fails.
    static func make(
        role: Role,
        properties: [(key: String, value: String)],
        context: RDKafkaCallbackContext,
        logger: Logger
    ) throws -> RDKafkaClient {
        let conf = try RDKafkaConfig.make(properties: properties, logger: logger)
        RDKafkaCallbacks.install(on: conf, role: role, context: context)
        var errstr = [CChar](repeating: 0, count: 512)
        let type = role == .consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER
        // On success rd_kafka_new takes ownership of `conf`; on failure we still own it.
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(
                code: .invalidArgument,
                message: "rd_kafka_new failed: \(context.redacted(RDKafkaConfig.string(from: errstr)))",
                isRetriable: false
            )
        }
        return RDKafkaClient(handle: handle, context: context, logger: logger)
    }

    /// Scoped access to the raw handle; it must not escape `body`.
    func withHandle<T>(_ body: (OpaquePointer) throws -> T) rethrows -> T {
        try body(self.handle)
    }

    /// The handle's name as librdkafka reports it (e.g. `amc#consumer-2`).
    var name: String {
        String(cString: rd_kafka_name(self.handle))
    }

    // MARK: - Producer

    /// Serves queued callbacks (delivery reports, errors, logs) for up to `timeoutMilliseconds`.
    @discardableResult
    func poll(timeoutMilliseconds: Int32) -> Int32 {
        rd_kafka_poll(self.handle, timeoutMilliseconds)
    }

    /// Messages and requests not yet delivered.
    var outqueueLength: Int32 {
        rd_kafka_outq_len(self.handle)
    }

    // MARK: - Consumer

    /// Subscribes to `topics` and routes the main queue into the consumer queue, so one poll serves everything.
    func subscribe(topics: [String]) throws {
        let redirect = rd_kafka_poll_set_consumer(self.handle)
        guard redirect == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(redirect, context: "rd_kafka_poll_set_consumer")
        }
        let list = RDKafkaTopicPartitionList(capacity: topics.count)
        for topic in topics {
            list.add(
                TopicPartition(topic: topic, partition: RD_KAFKA_PARTITION_UA),
                offset: Int64(RD_KAFKA_OFFSET_INVALID)
            )
        }
        let err = list.withListPointer { rd_kafka_subscribe(self.handle, $0) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(err, context: "subscribe to \(topics)")
        }
    }

    /// `rd_kafka_consumer_close`: leaves the group (running the revoke callback). Idempotent.
    func closeConsumer() {
        let alreadyClosed = self.consumerClosed.withLock { closed in
            defer { closed = true }
            return closed
        }
        guard !alreadyClosed else { return }
        let err = rd_kafka_consumer_close(self.handle)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            self.logger.info("Kafka consumer close failed", metadata: [KafkaLoggingKeys.errorCode: "\(err.rawValue)"])
        }
    }
}
