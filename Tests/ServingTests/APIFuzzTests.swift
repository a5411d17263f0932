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
        }
        #expect(!metrics.render().contains(#"status="5"#), "a request was answered with a 5xx")
    }

    /// Runs `schemathesis run` against the spec and the server on `port`, on a thread of its own (the wait
    /// blocks); the output of both streams goes to one file, returned with the exit status.
    private func runFuzzer(_ executable: String, port: Int) async throws -> (status: Int32, output: String) {
        try await blocking {
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("amc-api-fuzz-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let output = directory.appendingPathComponent("output")
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
            ]
            process.currentDirectoryURL = directory
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return (process.terminationStatus, try String(contentsOf: output, encoding: .utf8))
        }
    }
}
