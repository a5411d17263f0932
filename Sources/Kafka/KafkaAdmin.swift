import Crdkafka
import Logging

/// Topic administration over librdkafka's admin API (CreateTopics, metadata).
///
/// For real brokers (Apache Kafka, noida-db): a topic that clients would otherwise auto-create gets the broker's
/// default partition count (one on noida-db), so topics that need N partitions are created here first. librdkafka's
/// mock cluster has no CreateTopics handler and names no controller: there
/// ``createTopic(_:partitions:replicationFactor:config:timeout:)`` fails with ``KafkaErrorCode/timedOut`` ("Failed
/// while waiting for controller"); use ``MockKafkaCluster/createTopic(_:partitions:replicationFactor:)`` instead.
///
/// Sendable: the only state is an ``RDKafkaClient`` (whose `rd_kafka_t` is thread-safe) and a `Logger`.
public final class KafkaAdmin: Sendable {
    private let client: RDKafkaClient
    private let logger: Logger

    /// Creates the admin client; brokers are connected lazily.
    /// - Parameters:
    ///   - config: Bootstrap servers, client id and extra librdkafka properties.
    ///   - logger: Receives librdkafka's log lines and errors.
    /// - Throws: ``KafkaError`` (``KafkaErrorCode/invalidArgument``) if a property is unknown or invalid.
    public init(config: KafkaConfig, logger: Logger) throws {
        var logger = logger
        logger[metadataKey: KafkaLoggingKeys.clientID] = "\(config.clientID)"
        let context = RDKafkaCallbackContext(logger: logger, config: config)
        self.client = try RDKafkaClient.make(
            role: .admin,
            properties: config.librdkafkaProperties(defaults: []),
            context: context,
            logger: logger
        )
        self.logger = logger
    }

    /// Creates a topic, or does nothing if it already exists (whatever its partition count: see
    /// ``partitionCount(of:timeout:)``).
    ///
    /// - Parameters:
    ///   - name: Topic name.
    ///   - partitions: Partition count.
    ///   - replicationFactor: Replicas per partition.
    ///   - config: Topic configuration, e.g. `["retention.ms": "-1"]` to keep messages with old timestamps.
    ///   - timeout: Longest wait for the broker's answer.
    /// - Returns: Whether the topic was created (false: it existed).
    /// - Throws: ``KafkaError`` if the broker refuses it or does not answer in time (``KafkaErrorCode/timedOut``,
    ///   also on librdkafka's mock cluster, which cannot create topics this way).
    /// - Important: Blocks up to `timeout`; call it off Swift's cooperative pool.
    @discardableResult
    public func createTopic(
        _ name: String,
        partitions: Int32,
        replicationFactor: Int32 = 1,
        config: [String: String] = [:],
        timeout: Duration = .seconds(30)
    ) throws -> Bool {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let topic = rd_kafka_NewTopic_new(name, partitions, replicationFactor, &errstr, errstr.count) else {
            throw KafkaError(
                code: .invalidArgument,
                message: "topic \(name): \(RDKafkaConfig.string(from: errstr))",
                isRetriable: false
            )
        }
        var topics: [OpaquePointer?] = [topic]
        defer { rd_kafka_NewTopic_destroy_array(&topics, topics.count) }
        for key in config.keys.sorted() {
            let err = rd_kafka_NewTopic_set_config(topic, key, config[key]!)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError.rdKafka(err, context: "topic \(name) config \(key)")
            }
        }
        return try client.withHandle { rk in
            let queue = rd_kafka_queue_new(rk)
            defer { rd_kafka_queue_destroy(queue) }
            let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS)
            defer { rd_kafka_AdminOptions_destroy(options) }
            let milliseconds = timeout.rdKafkaTimeoutMilliseconds
            _ = rd_kafka_AdminOptions_set_request_timeout(options, milliseconds, &errstr, errstr.count)
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, milliseconds, &errstr, errstr.count)
            rd_kafka_CreateTopics(rk, &topics, topics.count, options, queue)
            // The result arrives on `queue` within the request timeout; wait a little longer for it.
            guard let event = rd_kafka_queue_poll(queue, milliseconds + 5000) else {
                throw KafkaError(code: .timedOut, message: "create topic \(name): no answer")
            }
            defer { rd_kafka_event_destroy(event) }
            let err = rd_kafka_event_error(event)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
                throw KafkaError(code: KafkaErrorCode(err), message: "create topic \(name): \(text)")
            }
            guard let result = rd_kafka_event_CreateTopics_result(event) else {
                throw KafkaError(code: .fail, message: "create topic \(name): unexpected answer")
            }
            var count = 0
            guard let results = rd_kafka_CreateTopics_result_topics(result, &count), count == 1,
                let first = results[0]
            else {
                throw KafkaError(code: .fail, message: "create topic \(name): no result for it")
            }
            let topicErr = rd_kafka_topic_result_error(first)
            if topicErr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { return false }
            guard topicErr == RD_KAFKA_RESP_ERR_NO_ERROR else {
                let text = rd_kafka_topic_result_error_string(first).map { String(cString: $0) } ?? ""
                throw KafkaError(code: KafkaErrorCode(topicErr), message: "create topic \(name): \(text)")
            }
            self.logger.debug("Kafka topic created", metadata: [KafkaLoggingKeys.topics: "\(name)"])
            return true
        }
    }

    /// The number of partitions of topic `name` as the cluster's metadata reports it.
    /// - Throws: ``KafkaError`` (``KafkaErrorCode/unknownTopicOrPartition``) for a topic the cluster does not have,
    ///   or on timeout.
    /// - Important: Blocks up to `timeout`; call it off Swift's cooperative pool.
    public func partitionCount(of name: String, timeout: Duration = .seconds(30)) throws -> Int {
        try client.withHandle { rk in
            let topic = rd_kafka_topic_new(rk, name, nil)
            defer { rd_kafka_topic_destroy(topic) }
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let err = rd_kafka_metadata(rk, 0, topic, &metadata, timeout.rdKafkaTimeoutMilliseconds)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                throw KafkaError.rdKafka(err, context: "metadata of \(name)")
            }
            defer { rd_kafka_metadata_destroy(metadata) }
            let topics = UnsafeBufferPointer(start: metadata.pointee.topics, count: Int(metadata.pointee.topic_cnt))
            guard let entry = topics.first(where: { String(cString: $0.topic) == name }) else {
                throw KafkaError(code: .unknownTopicOrPartition, message: "metadata of \(name): no such topic")
            }
            guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError.rdKafka(entry.err, context: "metadata of \(name)")
            }
            return Int(entry.partition_cnt)
        }
    }
}
