import Foundation
import Postgres
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite(.timeLimit(.minutes(8)))
struct OperationsCommandTests {
    @Test func ingestServesPrometheusMetricsOnItsMetricsPortAndLogsJSONLines() async throws {
        let url = try TestPostgres.freshDatabase()
        let broker = try BrokerProcess(arguments: ["broker", "--partitions", "1", "--topic", "clicks"])
        defer { broker.stop() }
        let address = try broker.bootstrapAddress()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("amc-ops-\(UUID().uuidString).tsv")
        defer { try? FileManager.default.removeItem(at: log) }
        let valid = (0..<300).map { "img\($0 % 7)\tquery \($0 % 11)\t1" }
        let invalid = ["imgX\tquery 1\tnot-a-count", "imgY\tquery 2\t-3", "imgZ\tquery 3\t1\textra"]
        try (valid + invalid).joined(separator: "\n").write(to: log, atomically: true, encoding: .utf8)
        #expect(try await amc(["produce", "--brokers", address, log.path]).status == 0)

        let port = try freeLoopbackPort()
        let stderr = FileManager.default.temporaryDirectory.appendingPathComponent("amc-ops-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: stderr) }
        _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
        let ingest = Process()
        ingest.executableURL = amcExecutable
        ingest.arguments = [
            "ingest", "--database-url", url, "--brokers", address, "--metrics-port", "\(port)", "--log-format", "json",
        ]
        ingest.standardError = try FileHandle(forWritingTo: stderr)
        try ingest.run()
        defer { if ingest.isRunning { ingest.terminate() } }

        let metricsURL = URL(string: "http://127.0.0.1:\(port)/metrics")!
        var scraped = false
        let deadline = ContinuousClock.now + .seconds(60)
        while !scraped, ContinuousClock.now < deadline {
            if let text = try? await httpGet(metricsURL) {
                // Lag is refreshed every 5 s: wait for its first value too.
                scraped =
                    text.contains("amc_ingest_events_total 300\n") && text.contains("amc_ingest_dead_letters_total 3\n")
                    && text.contains(#"amc_ingest_consumer_lag{topic="clicks",partition="0"} 0"#)
            }
            if !scraped { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(scraped, "events, dead letters and lag reach /metrics")
        let text = try await httpGet(metricsURL)
        #expect(text.contains("amc_ingest_batch_duration_seconds_count "), "\(text)")
        ingest.terminate()
        ingest.waitUntilExit()
        #expect(ingest.terminationStatus == 0)

        // Every line on stderr is one JSON object with the fixed fields.
        let lines = try String(contentsOf: stderr, encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty)
        var messages: [String] = []
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["timestamp"] is String && object?["level"] is String && object?["logger"] is String)
            messages.append(object?["message"] as? String ?? "")
        }
        #expect(messages.contains("Metrics endpoint listening"), "\(messages)")
    }

    @Test func kafkaPropertiesComeFromTheConfigFileAndTheEnvironmentAndSecretsNeverPrint() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-ops-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("amc.json")
        try #"{"kafka": {"brokers": "127.0.0.1:1", "properties": {"security.protocol": "from-the-file"}}}"#
            .write(to: config, atomically: true, encoding: .utf8)
        let log = folder.appendingPathComponent("clicks.tsv")
        try "img1\tred car\t1\n".write(to: log, atomically: true, encoding: .utf8)

        // The file's property reaches librdkafka (which rejects the value, naming it: it is not secret) …
        let fromFile = try await amc(["produce", "--config", config.path, log.path])
        #expect(fromFile.status != 0)
        #expect(
            fromFile.stderr.contains(#"Invalid value "from-the-file" for configuration property "security.protocol""#)
        )
        // … and the environment wins over the file.
        let fromEnvironment = try await amc(
            ["produce", "--config", config.path, log.path],
            environment: ["AMC_KAFKA_PROPERTY_SECURITY_PROTOCOL": "from-the-environment"]
        )
        #expect(fromEnvironment.status != 0)
        #expect(fromEnvironment.stderr.contains(#""from-the-environment" for configuration property"#))

        // Secrets are set on the client but appear nowhere, even where librdkafka itself quotes them.
        let broker = try BrokerProcess(arguments: ["broker", "--partitions", "1", "--topic", "clicks"])
        defer { broker.stop() }
        let secret = [
            "AMC_KAFKA_PROPERTY_SECURITY_PROTOCOL": "plaintext",
            "AMC_KAFKA_PROPERTY_SASL_MECHANISM": "hunter2-mechanism",
            "AMC_KAFKA_PROPERTY_SASL_PASSWORD": "hunter2-password",
        ]
        let produced = try await amc(
            [
                "produce", "--config", config.path, "--brokers", try broker.bootstrapAddress(), "--log-level", "trace",
                log.path,
            ],
            environment: secret
        )
        #expect(produced.status == 0, "\(produced.stderr)")
        #expect(!produced.stderr.contains("hunter2"), "\(produced.stderr)")
        // librdkafka warned about the SASL mechanism without SASL; the warning was logged with the value cut out.
        #expect(produced.stderr.contains("`sasl.mechanism` set to `<redacted>`"), "\(produced.stderr)")
        #expect(produced.stderr.contains("kafka.config.key=sasl.password"), "\(produced.stderr)")
    }
}

/// The body of a GET to `url`, or a thrown error for a failed request or a non-200 status.
func httpGet(_ url: URL) async throws -> String {
    let (data, response) = try await URLSession.shared.data(from: url)
    guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw TestFailure("GET \(url) failed") }
    return String(decoding: data, as: UTF8.self)
}
