import Foundation
import TestSupport
import Testing

/// A benchmark whose reference program dies stops at once and says why, instead of waiting for it forever.
@Suite(.timeLimit(.minutes(5)))
struct BenchReferenceFailureTests {
    @Test func benchIngestFailsAtOnceWithTheReferenceConsumersError() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("reference_ingest.py")
        try """
        import sys
        sys.stderr.write("Traceback (most recent call last):\\n  File x\\nModuleNotFoundError: No module named 'psycopg2'\\n")
        sys.exit(1)
        """.write(to: script, atomically: true, encoding: .utf8)
        let result = try await amcWithDeadline(
            [
                "bench", "ingest", "--events", "3000", "--queries", "10", "--images-per-query", "2", "--partitions",
                "1", "--lead", "1000", "--steady-rate", "100", "--steady-seconds", "1", "--reference-script",
                script.path, "--log-level", "error",
            ],
            deadline: .seconds(120)
        )
        #expect(result.status != 0)
        let last = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("Error: the reference consumer"), "\(result.stderr)")
        #expect(last.contains("failed (exit 1)"), "\(result.stderr)")
        #expect(last.contains("ModuleNotFoundError: No module named 'psycopg2'"), "\(result.stderr)")
    }

    @Test func benchLearnQuotesTheNumPyReferencesError() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // A stand-in interpreter: it "has NumPy", and dies running any script.
        let python = folder.appendingPathComponent("python")
        try """
        #!/bin/sh
        if [ "$1" = "-c" ]; then exit 0; fi
        echo "ImportError: numpy.core.multiarray failed to import" >&2
        exit 3
        """.write(to: python, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: python.path)
        let script = folder.appendingPathComponent("reference_learn.py")
        try "import numpy\n".write(to: script, atomically: true, encoding: .utf8)
        let result = try await amcWithDeadline(
            [
                "bench", "learn", "--examples", "40", "--images", "20", "--regions", "4", "--keywords", "6",
                "--seconds", "0.1", "--check-steps", "1", "--python", python.path, "--reference", script.path,
            ],
            deadline: .seconds(180)
        )
        #expect(result.status != 0)
        let last = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("Error: the NumPy reference"), "\(result.stderr)")
        #expect(last.contains("failed (exit 3)"), "\(result.stderr)")
        #expect(last.contains("ImportError: numpy.core.multiarray failed to import"), "\(result.stderr)")
    }

    private func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }
}

/// Runs `amc arguments…`; if it has not exited by `deadline`, kills it and records an issue (the bug is a hang).
func amcWithDeadline(_ arguments: [String], deadline: Duration) async throws -> RunResult {
    try await blocking {
        let process = Process()
        process.executableURL = amcExecutable
        process.arguments = arguments
        process.currentDirectoryURL = repositoryRoot
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("amc-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out")
        let err = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let end = ContinuousClock.now + deadline
        while process.isRunning, ContinuousClock.now < end { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning {
            Issue.record("amc \(arguments.prefix(2).joined(separator: " ")) was still running after \(deadline)")
            process.interrupt()
            Thread.sleep(forTimeInterval: 2)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        return RunResult(
            status: process.terminationStatus,
            stdout: try String(contentsOf: out, encoding: .utf8),
            stderr: try String(contentsOf: err, encoding: .utf8)
        )
    }
}
