import ArgumentParser
import Configuration
import Foundation
import Kafka
import Logging

extension AMC {
    /// `amc produce`: replays triad TSV or JSON lines into Kafka, keyed by normalised query.
    struct Produce: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay click-log lines (Clickture triad TSV or JSON events) into a Kafka topic."
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Topic to produce to (key produce.topic). Default: clicks.")
        var topic: String?

        @Option(help: "Messages per second (key produce.rate). Default: as fast as possible.")
        var rate: Int?

        @Argument(help: "Files to replay, in order; - reads standard input.")
        var files: [String]

        func validate() throws {
            guard !files.isEmpty else { throw ValidationError("name at least one FILE (or - for standard input)") }
        }

        func run() async throws {
            var flags = FlagValues()
            flags.set("produce.topic", topic, flag: "--topic")
            flags.set("produce.rate", rate, flag: "--rate")
            let settings = try await options.resolve(extra: flags)
            let kafka = try settings.kafkaConfig()
            let topic = try settings.reader.nonEmptyString(forKey: "produce.topic", default: "clicks")
            let rate = try settings.reader.int(forKey: "produce.rate", bounds: .within(1...100_000_000))
            let logger = Logger(label: "amc.produce")
            let files = files
            let summary = try await onBlockingThread {
                let producer = try KafkaProducer(config: kafka, logger: logger)
                var publisher = ClickPublisher(producer: producer, topic: topic)
                let totalBytes = files.contains("-") ? nil : files.reduce(0) { $0 + Self.fileSize($1) }
                var bar = ProgressBar(label: "produce", total: totalBytes)
                let started = ContinuousClock.now
                var readSoFar = 0
                for file in files {
                    var reader = try LineReader(path: file)
                    while let line = try reader.next() {
                        guard try publisher.publish(line) else { continue }
                        if let rate {
                            let due = started + .seconds(Double(publisher.sent) / Double(rate))
                            let wait = due - .now
                            if wait > .zero { Thread.sleep(forTimeInterval: wait.seconds) }
                        }
                        bar.update(done: readSoFar + reader.bytesRead, unit: "bytes")
                    }
                    readSoFar += reader.bytesRead
                }
                try producer.flush(timeout: .seconds(60))
                bar.finish(done: readSoFar, unit: "bytes")
                guard producer.failedCount == 0 else {
                    throw CommandError(
                        "\(producer.failedCount) message(s) were not delivered: "
                            + "\(producer.lastDeliveryError.map(String.init(describing:)) ?? "unknown error")"
                    )
                }
                return (publisher.sent, publisher.unparseable)
            }
            var line = "produced \(summary.0) message(s) to \(topic)"
            if summary.1 > 0 { line += " (\(summary.1) did not parse and were sent unkeyed; ingest dead-letters them)" }
            print(line)
        }

        private static func fileSize(_ path: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
        }
    }
}
