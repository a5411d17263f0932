import Kafka
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite(.timeLimit(.minutes(6)))
struct MockBootstrapForwardingTests {
    @Test func producesAndConsumesThroughTheForwardedBootstrapPort() async throws {
        let topic = "forwarded"
        let count = 100
        let cluster = try TestSupport.makeCluster(topic: topic, partitions: 2)
        defer { cluster.shutdown() }
        let port = try TestSockets.freePort()
        let bootstrap = try cluster.forwardBootstrap(fromPort: port)
        #expect(bootstrap == "127.0.0.1:\(port)")
        #expect(bootstrap != cluster.bootstrapServers)

        let producer = try KafkaProducer(
            config: KafkaConfig(bootstrapServers: bootstrap),
            logger: TestSupport.makeLogger()
        )
        try await TestSupport.produce(producer, topic: topic, range: 0..<count)
        #expect(producer.deliveredCount == count)
        #expect(producer.failedCount == 0)

        let consumer = try KafkaConsumer(
            config: KafkaConfig(bootstrapServers: bootstrap),
            groupID: "forwarded-group",
            topics: [topic],
            logger: TestSupport.makeLogger(),
            onAssign: { partitions in Dictionary(uniqueKeysWithValues: partitions.map { ($0, .beginning) }) },
            onRevoke: { _ in }
        )
        let records = try await TestSupport.blocking {
            defer { consumer.close() }
            return try TestSupport.pollUntil(consumer) { $0.count >= count }
        }
        #expect(records.count == count)
        #expect(
            records.map { String(decoding: $0.value, as: UTF8.self) }.sorted()
                == (0..<count).map { String(decoding: TestSupport.value($0), as: UTF8.self) }.sorted()
        )
    }

    @Test func forwardingFromAPortInUseThrows() throws {
        let cluster = try TestSupport.makeCluster(topic: "taken", partitions: 1)
        defer { cluster.shutdown() }
        let (socket, port) = try TestSockets.listening()
        defer { close(socket) }

        let error = try #require(throws: KafkaError.self) { try cluster.forwardBootstrap(fromPort: port) }
        #expect(error.message == "port \(port) is in use")

        // The cluster's own forwarder holds its port too, until shutdown() frees it.
        let forwarded = try TestSockets.freePort()
        _ = try cluster.forwardBootstrap(fromPort: forwarded)
        #expect(throws: KafkaError.self) { try cluster.forwardBootstrap(fromPort: forwarded) }
        cluster.shutdown()
        let again = try MockKafkaCluster(logger: TestSupport.makeLogger())
        defer { again.shutdown() }
        #expect(try again.forwardBootstrap(fromPort: forwarded) == "127.0.0.1:\(forwarded)")
    }

    @Test func portsOutsideTheValidRangeAreRejected() throws {
        let cluster = try MockKafkaCluster(logger: TestSupport.makeLogger())
        defer { cluster.shutdown() }
        #expect(throws: KafkaError.self) { try cluster.forwardBootstrap(fromPort: 0) }
        #expect(throws: KafkaError.self) { try cluster.forwardBootstrap(fromPort: 65536) }
    }
}

/// Loopback sockets for the forwarding tests.
enum TestSockets {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A port that was free a moment ago (bound to port 0, read back, closed).
    static func freePort() throws -> Int {
        let (socket, port) = try listening()
        close(socket)
        return port
    }

    /// A socket listening on an ephemeral 127.0.0.1 port, and that port. The caller closes the socket.
    static func listening() throws -> (socket: Int32, port: Int) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            throw Failure(description: "binding 127.0.0.1:0 failed")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
