import Crdkafka
import Logging

/// Owns an `rd_kafka_mock_cluster_t` and the hidden handle that hosts it.
///
/// `@unchecked Sendable`: the mock cluster runs on its own librdkafka thread; its `rd_kafka_mock_*` control functions
/// post operations to that thread under the cluster's lock and are safe to call from any thread.
///
/// - Important: The cluster must be destroyed before its host handle. `deinit` destroys the cluster in its body;
///   the `host` stored property (whose own `deinit` calls `rd_kafka_destroy`) is released only afterwards.
final class RDKafkaMockCluster: @unchecked Sendable {
    private let host: RDKafkaClient
    /// `rd_kafka_mock_cluster_t *`.
    private let cluster: OpaquePointer
    /// Copied at creation: the C string belongs to the cluster.
    let bootstrapServers: String

    init(brokers: Int, logger: Logger) throws {
        let context = RDKafkaCallbackContext(logger: logger, config: KafkaConfig(bootstrapServers: ""))
        self.host = try RDKafkaClient.make(
            role: .mockHost,
            properties: [(key: "client.id", value: "amc-mock-host"), (key: "log.connection.close", value: "false")],
            context: context,
            logger: logger
        )
        guard let cluster = self.host.withHandle({ rd_kafka_mock_cluster_new($0, Int32(clamping: brokers)) }) else {
            throw KafkaError(code: .fail, message: "rd_kafka_mock_cluster_new failed", isRetriable: false)
        }
        self.cluster = cluster
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(self.cluster)
    }

    func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32) throws {
        let err = rd_kafka_mock_topic_create(self.cluster, name, partitions, replicationFactor)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(err, context: "mock topic create \(name)")
        }
    }

    func setBroker(_ brokerID: Int32, up: Bool) throws {
        let err =
            up
            ? rd_kafka_mock_broker_set_up(self.cluster, brokerID)
            : rd_kafka_mock_broker_set_down(self.cluster, brokerID)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(err, context: "mock broker \(brokerID) set \(up ? "up" : "down")")
        }
    }

    func pushRequestErrors(apiKey: Int16, errors: [KafkaErrorCode]) {
        let codes = errors.map(\.rdKafkaValue)
        codes.withUnsafeBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(self.cluster, apiKey, buffer.count, buffer.baseAddress)
        }
    }
}
