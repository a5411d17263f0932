import Crdkafka
import Logging
import Synchronization

/// A balanced group consumer over librdkafka (eager rebalance protocol by default).
///
/// Settings (each overridable through ``KafkaConfig/properties``): `enable.auto.commit=false`,
/// `enable.auto.offset.store=false`, `auto.offset.reset=earliest`, `enable.partition.eof=false`,
/// `session.timeout.ms=10000`, `heartbeat.interval.ms=1000`. Offsets are the caller's business: ``commitAsync(_:)`` is
/// advisory, and where to start is decided by `onAssign`.
///
/// - Important: All methods that block — ``pollBatch(maxRecords:timeout:)``, ``close()``, ``seek(_:to:timeout:)``
///   and ``watermarks(for:timeout:)`` — must be called from **one dedicated thread** (e.g. a serial `DispatchQueue`
///   or a `Thread`), never from Swift's cooperative pool. `onAssign`/`onRevoke` run on that thread, inside
///   ``pollBatch(maxRecords:timeout:)`` or ``close()``. Call ``pollBatch(maxRecords:timeout:)`` at least every
///   `max.poll.interval.ms` (default 300 s) or the consumer leaves the group. ``assignment`` and ``commitAsync(_:)``
///   may be called from any thread.
///
/// Sendable: the librdkafka handle is thread-safe (see ``RDKafkaClient``) and all Swift state is behind a `Mutex`;
/// the single-polling-thread rule above is librdkafka's usage contract, not a memory-safety one.
public final class KafkaConsumer: Sendable {
    private let client: Mutex<RDKafkaClient?>
    private let context: RDKafkaCallbackContext
    private let logger: Logger

    /// Consumer defaults, applied before ``KafkaConfig``'s own settings.
    static let defaultProperties: [(String, String)] = [
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        ("enable.partition.eof", "false"),
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "1000"),
    ]

    /// Creates the consumer and subscribes to `topics`; the group is joined by the first polls.
    ///
    /// - Parameters:
    ///   - config: Bootstrap servers, client id and extra librdkafka properties.
    ///   - groupID: `group.id`.
    ///   - topics: Topics to subscribe to.
    ///   - logger: Receives librdkafka's log lines and errors.
    ///   - onAssign: Called on the polling thread when partitions are assigned; returns where to start each one. The
    ///     consumer then assigns exactly those partitions with those offsets (a partition missing from the result
    ///     starts at its committed offset, else `auto.offset.reset`; extra keys are ignored). If it throws, nothing
    ///     is assigned and the error is rethrown by the ``pollBatch(maxRecords:timeout:)`` that triggered it; treat it
    ///     as transient and recreate the consumer (``close()`` + new instance).
    ///   - onRevoke: Called on the polling thread before partitions are taken away (also from ``close()``), with the
    ///     partitions that `onAssign` had successfully started.
    /// - Throws: ``KafkaError`` if a property is invalid or subscribing fails.
    public init(
        config: KafkaConfig,
        groupID: String,
        topics: [String],
        logger: Logger,
        onAssign: @escaping @Sendable ([TopicPartition]) throws -> [TopicPartition: KafkaOffset],
        onRevoke: @escaping @Sendable ([TopicPartition]) -> Void
    ) throws {
        var logger = logger
        logger[metadataKey: KafkaLoggingKeys.clientID] = "\(config.clientID)"
        logger[metadataKey: KafkaLoggingKeys.groupID] = "\(groupID)"
        let context = RDKafkaCallbackContext(
            logger: logger,
            config: config,
            collectsErrors: true,
            rebalanceHandlers: .init(onAssign: onAssign, onRevoke: onRevoke)
        )
        let client = try RDKafkaClient.make(
            role: .consumer,
            properties: config.librdkafkaProperties(defaults: Self.defaultProperties + [("group.id", groupID)]),
            context: context,
            logger: logger
        )
        try client.subscribe(topics: topics)
        logger[metadataKey: KafkaLoggingKeys.clientName] = "\(client.name)"
        self.client = Mutex(client)
        self.context = context
        self.logger = logger
        self.logger.debug("Kafka consumer subscribed", metadata: [KafkaLoggingKeys.topics: "\(topics)"])
    }

    deinit {
        self.close()
    }

    /// Polls one batch.
    ///
    /// Blocks up to `timeout` for the first message (rebalance callbacks are served meanwhile), then takes up to
    /// `maxRecords` already-available ones without waiting further. Messages carrying an error are not records: they
    /// go into ``ConsumerBatch/errors`` (`PARTITION_EOF` is ignored), together with errors reported by the client
    /// since the previous batch. Records are always consistent with the latest `onAssign`: if a rebalance runs during
    /// the batch, records polled before it are dropped (they are read again from the offsets `onAssign` returns, or by
    /// the partition's new owner).
    ///
    /// - Parameters:
    ///   - maxRecords: Maximum number of records to return.
    ///   - timeout: Maximum wait for the first message.
    /// - Returns: The records and errors.
    /// - Throws: The error thrown by `onAssign` (nothing was assigned), or ``KafkaError`` if the consumer is closed.
    /// - Important: Blocks; call only from the consumer's dedicated polling thread.
    public func pollBatch(maxRecords: Int, timeout: Duration) throws -> ConsumerBatch {
        guard let client = self.client.withLock({ $0 }) else { throw KafkaError.closed("KafkaConsumer") }
        var batch = ConsumerBatch()
        client.withHandle { rk in
            var wait = timeout.rdKafkaTimeoutMilliseconds
            while batch.records.count < maxRecords {
                let generation = self.context.state.withLock { $0.rebalanceGeneration }
                let message = rd_kafka_consumer_poll(rk, wait)
                wait = 0
                let (rebalanced, failed) = self.context.state.withLock {
                    ($0.rebalanceGeneration != generation, $0.rebalanceError != nil)
                }
                if rebalanced {
                    // Records polled before the rebalance predate `onRevoke`/`onAssign`; hand out none of them.
                    batch.records.removeAll()
                }
                if failed { break }
                guard let message else { break }
                defer { rd_kafka_message_destroy(message) }
                Self.append(message, to: &batch)
            }
        }
        if let error = self.context.takeRebalanceError() {
            throw error
        }
        batch.errors = self.context.takePendingErrors() + batch.errors
        return batch
    }

    /// Currently assigned partitions (those for which `onAssign` succeeded).
    public var assignment: Set<TopicPartition> {
        self.context.state.withLock { $0.assignment }
    }

    /// Moves an assigned partition's fetch position; the next record returned for it has `offset`.
    ///
    /// - Parameters:
    ///   - partition: An assigned partition.
    ///   - offset: The next offset to read.
    ///   - timeout: Maximum wait for the seek to be applied (0 = asynchronous, no error reporting).
    /// - Throws: ``KafkaError`` if the seek fails (e.g. the partition is not assigned) or the consumer is closed.
    /// - Important: Blocks; call only from the consumer's dedicated polling thread.
    public func seek(_ partition: TopicPartition, to offset: Int64, timeout: Duration) throws {
        guard let client = self.client.withLock({ $0 }) else { throw KafkaError.closed("KafkaConsumer") }
        let list = RDKafkaTopicPartitionList(capacity: 1)
        list.add(partition, offset: offset)
        let failure: KafkaError? = client.withHandle { rk in
            list.withListPointer { pointer in
                if let error = rd_kafka_seek_partitions(rk, pointer, timeout.rdKafkaTimeoutMilliseconds) {
                    return KafkaError.consuming(error, context: "seek \(partition) to \(offset)")
                }
                return nil
            }
        }
        if let failure { throw failure }
        if let entry = list.entries.first, entry.error != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError.rdKafka(entry.error, context: "seek \(partition) to \(offset)")
        }
    }

    /// Asynchronously commits offsets to the group (advisory only).
    ///
    /// - Parameter offsets: For each partition, the **next** offset to read (last processed + 1).
    /// - Note: Errors are logged, not thrown; the result is reported on the polling thread by a later poll.
    public func commitAsync(_ offsets: [TopicPartition: Int64]) {
        guard !offsets.isEmpty, let client = self.client.withLock({ $0 }) else { return }
        let list = RDKafkaTopicPartitionList(capacity: offsets.count)
        for (partition, offset) in offsets {
            list.add(partition, offset: offset)
        }
        let err = client.withHandle { rk in list.withListPointer { rd_kafka_commit(rk, $0, 1) } }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            self.logger.info(
                "Kafka commit could not be started",
                metadata: [KafkaLoggingKeys.errorCode: "\(KafkaErrorCode(err).name)"]
            )
        }
    }

    /// A partition's watermarks as last seen in fetch responses, without asking the broker (does not block).
    ///
    /// - Parameter partition: An assigned partition.
    /// - Returns: `low`/`high` as in ``watermarks(for:timeout:)``, or nil when none were seen yet.
    public func cachedWatermarks(for partition: TopicPartition) -> (low: Int64, high: Int64)? {
        guard let client = self.client.withLock({ $0 }) else { return nil }
        var low: Int64 = -1
        var high: Int64 = -1
        let err = client.withHandle { rk in
            rd_kafka_get_watermark_offsets(rk, partition.topic, partition.partition, &low, &high)
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// Queries the broker for a partition's low and high watermarks.
    ///
    /// - Parameters:
    ///   - partition: Any partition (need not be assigned).
    ///   - timeout: Maximum wait for the broker.
    /// - Returns: `low` = first retained offset, `high` = next offset to be written.
    /// - Throws: ``KafkaError`` on timeout, unknown partition, or if the consumer is closed.
    /// - Important: Blocks; call only from the consumer's dedicated polling thread.
    public func watermarks(for partition: TopicPartition, timeout: Duration) throws -> (low: Int64, high: Int64) {
        guard let client = self.client.withLock({ $0 }) else { throw KafkaError.closed("KafkaConsumer") }
        var low: Int64 = -1
        var high: Int64 = -1
        let err = client.withHandle { rk in
            rd_kafka_query_watermark_offsets(
                rk,
                partition.topic,
                partition.partition,
                &low,
                &high,
                timeout.rdKafkaTimeoutMilliseconds
            )
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(err, context: "watermarks of \(partition)")
        }
        return (low, high)
    }

    /// Leaves the group (running `onRevoke`), then destroys the handle. Idempotent; `deinit` also closes.
    ///
    /// - Important: Blocks; call only from the consumer's dedicated polling thread.
    public func close() {
        let client = self.client.withLock { client in
            defer { client = nil }
            return client
        }
        guard let client else { return }
        client.closeConsumer()
        if let error = self.context.takeRebalanceError() {
            self.logger.debug("Kafka rebalance error during close", metadata: ["kafka.error": "\(error)"])
        }
        self.logger.debug("Kafka consumer closed")
        // `client` is normally the last reference here: rd_kafka_destroy runs when this scope ends.
    }

    // MARK: - Private

    /// Copies one message out of librdkafka (the caller destroys it).
    private static func append(_ message: UnsafeMutablePointer<rd_kafka_message_t>, to batch: inout ConsumerBatch) {
        let m = message.pointee
        let topic = m.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
            let text = String(cString: rd_kafka_message_errstr(message))
            let location = topic.isEmpty ? "" : "\(topic)[\(m.partition)]: "
            batch.errors.append(KafkaError(code: KafkaErrorCode(m.err), message: location + text))
            return
        }
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        batch.records.append(
            ConsumerRecord(
                topic: topic,
                partition: m.partition,
                offset: m.offset,
                key: key,
                value: value,
                timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || timestamp < 0
                    ? nil : timestamp
            )
        )
    }
}
