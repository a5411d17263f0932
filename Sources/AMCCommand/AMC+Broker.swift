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
                Prints the bootstrap address as the first line of stdout. The embedded broker keeps only about \
                5 MB or 100k message sets per partition and trims the oldest beyond that: keep producers close \
                behind consumers. For production, point --brokers at a real Kafka cluster instead.
                """)

        @OptionGroup var options: GlobalOptions

        @Option(help: "Partitions per topic.")
        var partitions: Int32 = 8

        @Option(name: .customLong("topic"), help: "Topic to create (repeatable). Default: clicks.")
        var topics: [String] = []

        @Option(help: "Number of brokers in the mock cluster.")
        var brokerCount: Int = 1

        func validate() throws {
            guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
            guard brokerCount >= 1 else { throw ValidationError("--broker-count must be at least 1") }
        }

        func run() async throws {
            _ = try await options.resolve()
            let logger = Logger(label: "amc.broker")
            let cluster = try MockKafkaCluster(brokers: brokerCount, logger: logger)
            for topic in topics.isEmpty ? ["clicks"] : topics {
                try cluster.createTopic(topic, partitions: partitions)
            }
            FileHandle.standardOutput.write(Data((cluster.bootstrapServers + "\n").utf8))
            logger.info("embedded broker ready", metadata: ["kafka.bootstrap": "\(cluster.bootstrapServers)"])
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
