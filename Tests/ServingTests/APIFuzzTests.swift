import Foundation
import Hummingbird
import HummingbirdTesting
import LearningTestSupport
import Serving
import TestSupport
import Testing

/// The API against its specification, `Docs/openapi.yaml`: schemathesis (a property-based API fuzzer) generates
/// requests from the spec, valid and invalid, sends them to a real server on a loopback port, and checks every
/// answer: never a 5xx, a status, content type, headers and body the spec documents for that route, invalid input
/// rejected with a 4xx, other methods answered 405 with `Allow`.
///
/// The executable is named by `AMC_SCHEMATHESIS` (`Deploy/local/test.sh` installs a pinned version in a virtual
/// environment and sets it); without it the test fails rather than passing unchecked.
@Suite struct APIFuzzTests {
    @Test func generatedRequestsGetTheAnswersTheSpecificationDescribes() async throws {
        guard let fuzzer = ProcessInfo.processInfo.environment["AMC_SCHEMATHESIS"], !fuzzer.isEmpty else {
            Issue.record(
                """
                AMC_SCHEMATHESIS is not set: it must name a schemathesis executable (Deploy/local/test.sh installs \
                one and sets it)
                """
            )
            return
        }
        let fixture = try LearningFixture.serving()
        _ = try fixture.publish(seed: 1, activate: true)
        // The default limits: the ones the spec states.
        var configuration = ServingConfiguration()
        configuration.port = 0
        let (holder, metrics, app) = scoringWorker(fixture, configuration)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            let run = try await runFuzzer(fuzzer, port: port)
            #expect(run.status == 0, "schemathesis found failures:\n\(run.output)")
            // The run exercised `explain`: explained results were checked against the spec, and a non-boolean was
            // refused naming the field.
            let scores = run.exchanges.filter { $0.path == "/v1/score" }
            #expect(scores.contains { $0.status == 200 && $0.response.contains(#""explanation":{"#) })
            #expect(scores.contains { $0.status == 400 && $0.response.contains("field 'explain' must be a boolean") })
        }
        #expect(!metrics.render().contains(#"status="5"#), "a request was answered with a 5xx")
    }

    /// One request the fuzzer sent and its answer, from the run's HAR report.
    private struct Exchange {
        var path: String
        var status: Int
        var response: String
    }

    /// Runs `schemathesis run` against the spec and the server on `port`, on a thread of its own (the wait
    /// blocks); the output of both streams goes to one file, returned with the exit status and the exchanges of its
    /// HAR report.
    private func runFuzzer(
        _ executable: String,
        port: Int
    ) async throws -> (status: Int32, output: String, exchanges: [Exchange]) {
        try await blocking {
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("amc-api-fuzz-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let output = directory.appendingPathComponent("output")
            let har = directory.appendingPathComponent("run.har")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            defer { try? handle.close() }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = [
                "run", repositoryRoot.appendingPathComponent("Docs/openapi.yaml").path,
                "--url", "http://127.0.0.1:\(port)",
                // Every check that applies to a stateless API, but `positive_data_acceptance`: the spec cannot
                // state the byte limit of `query` nor "not only whitespace", so some schema-valid queries get 400.
                "--checks", "all", "--exclude-checks", "positive_data_acceptance",
                // The spec's examples, the boundary cases of every constraint, then generated requests: a fixed
                // sequence of about 1100 (a few seconds), the same on every run. Only the timing health check is
                // off, so a busy machine does not fail the run.
                "--phases", "examples,coverage,fuzzing", "--max-examples", "1000", "--generation-deterministic",
                "--suppress-health-check", "too_slow", "--workers", "1", "--request-timeout", "10", "--no-color",
                "--report", "har", "--report-har-path", har.path,
            ]
            process.currentDirectoryURL = directory
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            let text = try String(contentsOf: output, encoding: .utf8)
            // A run that stopped before writing its report has no exchanges (its status and output say why).
            let exchanges = (try? Data(contentsOf: har)).flatMap { try? Self.exchanges(inHAR: $0) } ?? []
            return (process.terminationStatus, text, exchanges)
        }
    }

    /// The exchanges of a HAR 1.2 log (`log.entries[]`: the request's URL, the response's status and text).
    private static func exchanges(inHAR data: Data) throws -> [Exchange] {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let entries = (root["log"] as? [String: Any])?["entries"] as? [[String: Any]]
        else { return [] }
        return entries.compactMap { entry in
            guard let request = entry["request"] as? [String: Any], let response = entry["response"] as? [String: Any],
                let url = (request["url"] as? String).flatMap(URL.init(string:)),
                let status = response["status"] as? Int
            else { return nil }
            let text = (response["content"] as? [String: Any])?["text"] as? String ?? ""
            return Exchange(path: url.path, status: status, response: text)
        }
    }
}
