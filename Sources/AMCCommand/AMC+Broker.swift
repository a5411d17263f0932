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
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Partitions per topic (key broker.partitions). Default: 8.")
        var partitions: Int?

        @Option(name: .customLong("topic"), help: "Topic to create, repeatable (key broker.topics). Default: clicks.")
        var topics: [String] = []

        @Option(help: "Number of brokers in the mock cluster (key broker.count). Default: 1.")
        var brokerCount: Int?

        @Option(
            help:
                "Fixed 127.0.0.1 port (1-65535) to bootstrap from, forwarded to the brokers' ephemeral ports (key broker.port)."
        )
        var port: Int?

        func run() async throws {
            var flags = FlagValues()
            flags.set("broker.partitions", partitions, flag: "--partitions")
            flags.set("broker.topics", topics, flag: "--topic")
            flags.set("broker.count", brokerCount, flag: "--broker-count")
            flags.set("broker.port", port, flag: "--port")
            let reader = try await options.resolve(extra: flags).reader
            let partitions = try reader.int(forKey: "broker.partitions", default: 8, bounds: .within(1...10_000))
            let topics = try reader.stringArray(forKey: "broker.topics", default: ["clicks"])
            let brokerCount = try reader.int(forKey: "broker.count", default: 1, bounds: .within(1...100))
            let port = try reader.int(forKey: "broker.port", bounds: .within(1...65_535))

            let logger = Logger(label: "amc.broker")
            let cluster = try MockKafkaCluster(brokers: brokerCount, logger: logger)
            for topic in topics {
                try cluster.createTopic(topic, partitions: Int32(partitions))
            }
            let bootstrap = try port.map { try cluster.forwardBootstrap(fromPort: $0) } ?? cluster.bootstrapServers
            FileHandle.standardOutput.write(Data((bootstrap + "\n").utf8))
            logger.info(
                "embedded broker ready",
                metadata: ["kafka.bootstrap": "\(bootstrap)", "kafka.brokers": "\(cluster.bootstrapServers)"]
            )
            let group = ServiceGroup(
                services: [HoldUntilShutdown()],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
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
