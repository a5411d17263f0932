import ArgumentParser
import CommandSupport
import Foundation
import Kafka
import Logging

extension AMC {
    /// `amc produce`: replays triad TSV or JSON lines into Kafka, keyed by normalised query.
    struct Produce: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay click-log lines (Clickture triad TSV or JSON events) into a Kafka topic.",
            discussion: """
                A line Kafka refuses (larger than the producer's message.max.bytes) or fails to deliver is reported \
                on stderr as FILE:LINE: … and skipped; every other line is delivered. The exit status is non-zero \
                when any line was not delivered. See Docs/operations.md.
                """
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
            let summary = try await onBlockingThread { try Self.replay(files, to: topic, rate: rate, kafka, logger) }
            var line = "produced \(summary.sent) message(s) to \(topic)"
            if summary.unparseable > 0 {
                line += " (\(summary.unparseable) did not parse and were sent unkeyed; ingest dead-letters them)"
            }
            print(line)
            guard summary.notSent == 0 else {
                throw CommandError(
                    "\(summary.notSent) line(s) were not sent or not delivered (listed above); "
                        + "every other line was delivered"
                )
            }
        }

        /// Lines whose refusal is printed individually; the rest are only counted.
        static let maxPrintedFailures = 100

        /// What one run did.
        struct Summary {
            var sent = 0
            var unparseable = 0
            /// Lines refused by the producer or whose delivery failed.
            var notSent = 0
        }

        /// Sends every line of `files` in order. A line the producer refuses on its own (larger than the
        /// producer's `message.max.bytes`) is reported as `FILE:LINE: …` and skipped; a refusal that would hit
        /// every line (the producer in a fatal state, an unknown topic) stops the run, after delivering what was
        /// already sent. Deliveries that fail are reported by line too.
        private static func replay(
            _ files: [String],
            to topic: String,
            rate: Int?,
            _ kafka: KafkaConfig,
            _ logger: Logger
        ) throws -> Summary {
            let producer = try KafkaProducer(config: kafka, logger: logger)
            var publisher = ClickPublisher(producer: producer, topic: topic)
            var locations = LineLocations()
            var summary = Summary()
            var printed = 0
            func report(_ text: String) {
                printed += 1
                if printed <= maxPrintedFailures { printError(text) }
            }
            let totalBytes = files.contains("-") ? nil : files.reduce(0) { $0 + Self.fileSize($1) }
            var bar = ProgressBar(label: "produce", total: totalBytes)
            let started = ContinuousClock.now
            var readSoFar = 0
            var tag = 0
            var stop: CommandError?
            files: for file in files {
                // A file that cannot be opened or read stops the run like an unsendable line: after the flush below.
                var reader: LineReader
                do {
                    reader = try LineReader(path: file)
                } catch {
                    stop = error as? CommandError ?? CommandError("\(file): \(error)")
                    break files
                }
                locations.begin(file == "-" ? "stdin" : file, at: tag + 1)
                while true {
                    let next: ArraySlice<UInt8>?
                    do {
                        next = try reader.next()
                    } catch {
                        stop = CommandError("\(locations.location(of: tag + 1)): \(error)")
                        break files
                    }
                    guard let line = next else { break }
                    tag += 1
                    do {
                        guard try publisher.publish(line, tag: tag) else { continue }
                    } catch let error as KafkaError where error.code == .messageSizeTooLarge {
                        summary.notSent += 1
                        report("\(locations.location(of: tag)): not sent: \(line.count) bytes: \(error)")
                        continue
                    } catch {
                        stop = CommandError("\(locations.location(of: tag)): not sent, stopping: \(error)")
                        break files
                    }
                    if let rate {
                        let due = started + .seconds(Double(publisher.sent) / Double(rate))
                        let wait = due - .now
                        if wait > .zero { Thread.sleep(forTimeInterval: wait.seconds) }
                    }
                    bar.update(done: readSoFar + reader.bytesRead, unit: "bytes")
                }
                readSoFar += reader.bytesRead
            }
            // Everything already sent is delivered (or reported) before the run ends, however it ends.
            let flushError: (any Error)?
            do {
                try producer.flush(timeout: .seconds(60))
                flushError = nil
            } catch {
                flushError = error
            }
            bar.finish(done: readSoFar, unit: "bytes")
            for failure in producer.takeFailedDeliveries() {
                report("\(locations.location(of: failure.tag)): not delivered: \(failure.error)")
            }
            summary.notSent += producer.failedCount
            summary.sent = publisher.sent - producer.failedCount
            summary.unparseable = publisher.unparseable
            if printed > maxPrintedFailures {
                printError("… and \(printed - maxPrintedFailures) more line(s) not shown")
            }
            if let stop {
                throw CommandError(
                    "\(stop.message) (\(summary.sent) earlier message(s) delivered, \(summary.notSent) not)"
                )
            }
            if let flushError { throw flushError }
            return summary
        }

        /// Writes one line to stderr, first clearing a progress bar drawn on a terminal.
        private static func printError(_ line: String) {
            let clear = isatty(STDERR_FILENO) == 1 ? "\r\u{1B}[K" : ""
            FileHandle.standardError.write(Data((clear + line + "\n").utf8))
        }

        private static func fileSize(_ path: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
        }
    }
}
