import Crdkafka
import Logging
import Synchronization

/// An idempotent Kafka producer over librdkafka.
///
/// Defaults (each overridable through ``KafkaConfig/properties``): `enable.idempotence=true`, `acks=all`,
/// `linger.ms=5`, `queue.buffering.max.messages=1000000`, `partitioner=murmur2_random` (keys are spread like the Java
/// client; messages without a key go to a random partition).
///
/// Delivery reports are served only by ``poll()`` and ``flush(timeout:)`` (and by ``send(topic:key:value:partition:)``
/// when the local queue is full), so call ``poll()`` regularly.
///
/// Sendable: the only state is an ``RDKafkaClient`` (whose `rd_kafka_t` is thread-safe) and a `Logger`.
public final class KafkaProducer: Sendable {
    private let client: RDKafkaClient
    private let logger: Logger

    /// Default producer properties, applied before ``KafkaConfig``'s own settings.
    static let defaultProperties: [(String, String)] = [
        ("enable.idempotence", "true"),
        ("acks", "all"),
        ("linger.ms", "5"),
        ("queue.buffering.max.messages", "1000000"),
        ("partitioner", "murmur2_random"),
    ]

    /// Creates the producer; brokers are connected lazily.
    /// - Parameters:
    ///   - config: Bootstrap servers, client id and extra librdkafka properties.
    ///   - logger: Receives librdkafka's log lines (at `info` for warnings and worse, else `debug`) and errors.
    /// - Throws: ``KafkaError`` (``KafkaErrorCode/invalidArgument``) if a property is unknown or invalid.
    public init(config: KafkaConfig, logger: Logger) throws {
        var logger = logger
        logger[metadataKey: KafkaLoggingKeys.clientID] = "\(config.clientID)"
        let context = RDKafkaCallbackContext(logger: logger, config: config)
        self.client = try RDKafkaClient.make(
            role: .producer,
            properties: config.librdkafkaProperties(defaults: Self.defaultProperties),
            context: context,
            logger: logger
        )
        logger[metadataKey: KafkaLoggingKeys.clientName] = "\(self.client.name)"
        self.logger = logger
        self.logger.debug("Kafka producer created")
    }

    /// Enqueues one message; it is copied, so the arrays may be reused immediately.
    ///
    /// - Parameters:
    ///   - topic: Destination topic.
    ///   - key: Optional key; with `partition == nil` it selects the partition (murmur2, like the Java client).
    ///   - value: Payload. An empty array is sent as an empty (non-null) value.
    ///   - partition: Explicit partition, or `nil` for the partitioner.
    ///   - deliveryTag: A number of the caller's (e.g. a line number) returned with the message's
    ///     ``FailedDelivery`` should its delivery fail; `nil` to only count a failure.
    /// - Throws: ``KafkaError`` if librdkafka rejects the message (unknown partition, too large, fatal state, ...);
    ///   nothing was enqueued then.
    /// - Important: When the local queue is full this serves delivery reports (`rd_kafka_poll`, 10 ms at a time) and
    ///   retries until there is room, so it can block while brokers are unreachable (at most until queued messages
    ///   time out after `message.timeout.ms`). Do not call it from Swift's cooperative pool when that may happen.
    public func send(
        topic: String,
        key: [UInt8]?,
        value: [UInt8],
        partition: Int32? = nil,
        deliveryTag: Int? = nil
    ) throws {
        precondition(deliveryTag.map { $0 >= 0 && $0 < Int.max } ?? true, "a delivery tag is in 0..<Int.max")
        while true {
            guard
                let error = self.produce(
                    topic: topic,
                    key: key,
                    value: value,
                    partition: partition,
                    deliveryTag: deliveryTag
                )
            else {
                return
            }
            guard error.code == .queueFull else { throw error }
            self.client.poll(timeoutMilliseconds: 10)
        }
    }

    /// Serves delivery reports and other queued callbacks without blocking.
    public func poll() {
        self.client.poll(timeoutMilliseconds: 0)
    }

    /// Waits until every enqueued message is delivered or has failed.
    ///
    /// - Parameter timeout: Maximum time to wait.
    /// - Throws: ``KafkaError`` with ``KafkaErrorCode/timedOut`` if messages are still outstanding at the deadline.
    /// - Important: Blocks the calling thread; never call it on Swift's cooperative pool.
    public func flush(timeout: Duration) throws {
        let err = self.client.withHandle { rd_kafka_flush($0, timeout.rdKafkaTimeoutMilliseconds) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let outstanding = self.client.outqueueLength
            throw KafkaError(
                code: KafkaErrorCode(err),
                message: "flush timed out after \(timeout) with \(outstanding) messages/requests outstanding"
            )
        }
    }

    /// Number of delivery reports that reported success.
    public var deliveredCount: Int {
        self.client.context.state.withLock { $0.deliveredCount }
    }

    /// Number of delivery reports that reported an error.
    public var failedCount: Int {
        self.client.context.state.withLock { $0.failedCount }
    }

    /// The error of the most recent failed delivery report, if any.
    public var lastDeliveryError: KafkaError? {
        self.client.context.state.withLock { $0.lastDeliveryError }
    }

    /// A message sent with a delivery tag whose delivery failed.
    public struct FailedDelivery: Sendable {
        /// The tag given to ``KafkaProducer/send(topic:key:value:partition:deliveryTag:)``.
        public var tag: Int
        /// Why the delivery failed.
        public var error: KafkaError
    }

    /// Removes and returns the failed deliveries of tagged messages reported so far, oldest first (the first
    /// 10,000 since the last call; ``failedCount`` counts them all).
    public func takeFailedDeliveries() -> [FailedDelivery] {
        self.client.context.state.withLock { state in
            defer { state.failedDeliveries.removeAll() }
            return state.failedDeliveries
        }
    }

    /// Messages (and protocol requests) not yet acknowledged.
    public var outstandingCount: Int {
        Int(self.client.outqueueLength)
    }

    // MARK: - Private

    /// One `rd_kafka_produceva` attempt; `nil` on success.
    private func produce(
        topic: String,
        key: [UInt8]?,
        value: [UInt8],
        partition: Int32?,
        deliveryTag: Int?
    ) -> KafkaError? {
        // A non-NULL pointer with size 0 is an empty value; NULL would be a null (tombstone) value.
        let valueStorage = value.isEmpty ? [0] : value
        let keyStorage = key.map { $0.isEmpty ? [0] : $0 }
        return topic.withCString { topicPointer in
            valueStorage.withUnsafeBytes { valueBytes in
                Self.withOptionalBytes(keyStorage) { keyBytes in
                    var vus = [rd_kafka_vu_t]()
                    vus.reserveCapacity(6)
                    var topicVU = rd_kafka_vu_t()
                    topicVU.vtype = RD_KAFKA_VTYPE_TOPIC
                    topicVU.u.cstr = topicPointer
                    vus.append(topicVU)

                    var partitionVU = rd_kafka_vu_t()
                    partitionVU.vtype = RD_KAFKA_VTYPE_PARTITION
                    partitionVU.u.i32 = partition ?? RD_KAFKA_PARTITION_UA
                    vus.append(partitionVU)

                    var valueVU = rd_kafka_vu_t()
                    valueVU.vtype = RD_KAFKA_VTYPE_VALUE
                    valueVU.u.mem.ptr = UnsafeMutableRawPointer(mutating: valueBytes.baseAddress)
                    valueVU.u.mem.size = value.count
                    vus.append(valueVU)

                    if let keyBytes {
                        var keyVU = rd_kafka_vu_t()
                        keyVU.vtype = RD_KAFKA_VTYPE_KEY
                        keyVU.u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBytes.baseAddress)
                        keyVU.u.mem.size = key?.count ?? 0
                        vus.append(keyVU)
                    }

                    if let deliveryTag {
                        // The tag + 1 as the message opaque (never NULL), read back by the delivery callback.
                        var opaqueVU = rd_kafka_vu_t()
                        opaqueVU.vtype = RD_KAFKA_VTYPE_OPAQUE
                        opaqueVU.u.ptr = UnsafeMutableRawPointer(bitPattern: deliveryTag + 1)
                        vus.append(opaqueVU)
                    }

                    var flagsVU = rd_kafka_vu_t()
                    flagsVU.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    flagsVU.u.i = RD_KAFKA_MSG_F_COPY
                    vus.append(flagsVU)

                    let error = self.client.withHandle { rk in
                        vus.withUnsafeBufferPointer { rd_kafka_produceva(rk, $0.baseAddress, $0.count) }
                    }
                    return error.map { KafkaError.consuming($0, context: "produce to \(topic)") }
                }
            }
        }
    }

    private static func withOptionalBytes<T>(
        _ bytes: [UInt8]?,
        _ body: (UnsafeRawBufferPointer?) throws -> T
    ) rethrows -> T {
        guard let bytes else { return try body(nil) }
        return try bytes.withUnsafeBytes { try body($0) }
    }
}
