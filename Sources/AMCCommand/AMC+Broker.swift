import ArgumentParser
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import UnixSignals

extension AMC {
    /// `amc broker`: hosts the embedded Kafka (librdkafka's mock cluster) in the foreground.
    struct Broker: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Host the embedded Kafka (an in-process mock cluster) until SIGINT/SIGTERM.",
            discussion: """
                Prints the bootstrap address as the first line of stdout. The brokers listen on ephemeral \
                127.0.0.1 ports; with --port P, a local TCP forwarder on 127.0.0.1:P is printed instead, so clients \
                can bootstrap from a fixed address (metadata then points them at the brokers' own 127.0.0.1 ports). \
                The embedded broker keeps only about 5 MB or 100k message sets per partition and trims the oldest \
                beyond that: keep producers close behind consumers. For production, point --brokers at a real Kafka \
                cluster instead.
                """)

        @OptionGroup var options: GlobalOptions

        @Option(help: "Partitions per topic.")
        var partitions: Int32 = 8

        @Option(name: .customLong("topic"), help: "Topic to create (repeatable). Default: clicks.")
        var topics: [String] = []

        @Option(help: "Number of brokers in the mock cluster.")
        var brokerCount: Int = 1

        @Option(help: "Fixed 127.0.0.1 port (1-65535) to bootstrap from, forwarded to the brokers' ephemeral ports.")
        var port: Int?

        func validate() throws {
            guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
            guard brokerCount >= 1 else { throw ValidationError("--broker-count must be at least 1") }
            if let port, !(1...65535).contains(port) {
                throw ValidationError("--port must be in 1...65535")
            }
        }

        func run() async throws {
            _ = try await options.resolve()
            let logger = Logger(label: "amc.broker")
            let cluster = try MockKafkaCluster(brokers: brokerCount, logger: logger)
            for topic in topics.isEmpty ? ["clicks"] : topics {
                try cluster.createTopic(topic, partitions: partitions)
            }
            let bootstrap = try port.map { try cluster.forwardBootstrap(fromPort: $0) } ?? cluster.bootstrapServers
            FileHandle.standardOutput.write(Data((bootstrap + "\n").utf8))
            logger.info(
                "embedded broker ready",
                metadata: ["kafka.bootstrap": "\(bootstrap)", "kafka.brokers": "\(cluster.bootstrapServers)"]
            )
            let group = ServiceGroup(
                services: [HoldUntilShutdown()], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            try await group.run()
            cluster.shutdown()
        }
    }
}

/// A service that does nothing but wait for graceful shutdown (keeps the process's resources alive until then).
struct HoldUntilShutdown: Service {
    func run() async throws {
        try? await gracefulShutdown()
    }
}
