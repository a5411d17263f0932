import Logging
import Synchronization

/// librdkafka's in-process mock cluster (`rdkafka_mock.h`), speaking the real Kafka protocol on 127.0.0.1 TCP.
///
/// Meant for tests. Known behaviour of the librdkafka 2.0.2 mock: no CreateTopics handler (use
/// ``createTopic(_:partitions:replicationFactor:)``); a consumer group's first join is delayed by about 3 s; each
/// partition keeps only about 5 MB or 100k message sets and silently trims the oldest.
///
/// Sendable: all state is behind a `Mutex`; the underlying mock functions are thread-safe.
public final class MockKafkaCluster: Sendable {
    private let cluster: Mutex<RDKafkaMockCluster?>
    /// Started by ``forwardBootstrap(fromPort:)``; `nil` once shut down.
    private let forwarders: Mutex<[TCPForwarder]?> = Mutex([])
    private let logger: Logger

    /// The brokers' `host:port` list, e.g. `127.0.0.1:40233,127.0.0.1:35645`.
    public let bootstrapServers: String

    /// Starts a cluster.
    /// - Parameters:
    ///   - brokers: Number of brokers; their ids are `1...brokers`.
    ///   - logger: Receives the hidden host handle's log lines.
    /// - Throws: ``KafkaError`` if the cluster cannot be created.
    public init(brokers: Int = 1, logger: Logger) throws {
        let cluster = try RDKafkaMockCluster(brokers: brokers, logger: logger)
        self.bootstrapServers = cluster.bootstrapServers
        self.cluster = Mutex(cluster)
        self.logger = logger
    }

    deinit {
        self.shutdown()
    }

    /// Creates a topic (the mock has no CreateTopics API).
    /// - Parameters:
    ///   - name: Topic name.
    ///   - partitions: Partition count.
    ///   - replicationFactor: Replicas per partition (at most the broker count).
    /// - Throws: ``KafkaError`` if the mock rejects it or the cluster is shut down.
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws {
        try self.live().createTopic(name, partitions: partitions, replicationFactor: replicationFactor)
    }

    /// Disconnects broker `brokerID` and refuses new connections (no leader change).
    /// - Throws: ``KafkaError`` for an unknown broker or a shut-down cluster.
    public func setBrokerDown(_ brokerID: Int32) throws {
        try self.live().setBroker(brokerID, up: false)
    }

    /// Lets broker `brokerID` accept connections again.
    /// - Throws: ``KafkaError`` for an unknown broker or a shut-down cluster.
    public func setBrokerUp(_ brokerID: Int32) throws {
        try self.live().setBroker(brokerID, up: true)
    }

    /// Injects `errors` (one per request, in order) as responses to the next requests of Kafka API `apiKey`
    /// (see ``KafkaAPIKey``). ``KafkaErrorCode/transport`` makes the broker disconnect the client instead.
    public func pushRequestErrors(apiKey: Int16, errors: [KafkaErrorCode]) {
        guard let cluster = self.cluster.withLock({ $0 }) else { return }
        cluster.pushRequestErrors(apiKey: apiKey, errors: errors)
    }

    /// Listens on `127.0.0.1:port` and forwards every connection to the brokers (the first one that accepts it), so
    /// clients can bootstrap from a fixed address although the mock's own ports are ephemeral (librdkafka 2.0.2 offers
    /// no way to choose them).
    ///
    /// Kafka metadata then points clients at the brokers' real addresses (also on 127.0.0.1), so only bootstrap
    /// connections go through the forwarder. Call it more than once to listen on several ports.
    ///
    /// - Parameter port: The port to listen on, `1...65535`.
    /// - Returns: The forwarded bootstrap address, `"127.0.0.1:<port>"`.
    /// - Throws: ``KafkaError`` with the message `port <port> is in use` if the port is taken; ``KafkaError`` for a port
    ///   outside `1...65535`, a failing socket call, or a shut-down cluster.
    /// - Important: The forwarder runs on its own threads until ``shutdown()`` (or `deinit`), which closes its
    ///   listening socket and every forwarded connection.
    public func forwardBootstrap(fromPort port: Int) throws -> String {
        let upstreamPorts = self.bootstrapServers.split(separator: ",").compactMap { broker in
            broker.lastIndex(of: ":").flatMap { Int(broker[broker.index(after: $0)...]) }
        }
        _ = try self.live()
        let forwarder = try TCPForwarder(port: port, upstreamPorts: upstreamPorts)
        let added = self.forwarders.withLock { forwarders in
            guard forwarders != nil else { return false }
            forwarders?.append(forwarder)
            return true
        }
        guard added else {
            forwarder.stop()
            throw KafkaError.closed("MockKafkaCluster")
        }
        return "127.0.0.1:\(port)"
    }

    /// Stops the bootstrap forwarders and the brokers, and frees the cluster. Idempotent; `deinit` also does it.
    ///
    /// - Important: Blocks while librdkafka stops the mock threads; clients still connected see transport errors.
    public func shutdown() {
        let forwarders = self.forwarders.withLock { forwarders in
            defer { forwarders = nil }
            return forwarders ?? []
        }
        for forwarder in forwarders {
            forwarder.stop()
        }
        let cluster = self.cluster.withLock { cluster in
            defer { cluster = nil }
            return cluster
        }
        guard cluster != nil else { return }
        self.logger.debug("Mock Kafka cluster shutting down")
        // `cluster` is the last reference: it is destroyed when this scope ends.
    }

    private func live() throws -> RDKafkaMockCluster {
        guard let cluster = self.cluster.withLock({ $0 }) else {
            throw KafkaError.closed("MockKafkaCluster")
        }
        return cluster
    }
}
