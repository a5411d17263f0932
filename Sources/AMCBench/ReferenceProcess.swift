import CommandSupport
import Foundation

/// A benchmark's reference program, run as a child process with its standard error kept in a file, so that when
/// it fails — at start (a missing Python module) or later — the benchmark stops at once and quotes why.
final class ReferenceProcess: Sendable {
    /// What the reference is, for messages (`the reference consumer`).
    let name: String
    private let process = Process()
    private let errorFile: URL

    /// Starts `executable arguments…`.
    /// - Parameters:
    ///   - name: What the reference is, for messages.
    ///   - executable: Path of the program.
    ///   - arguments: Its arguments.
    ///   - standardOutput: Where its standard output goes (a `Pipe`, a `FileHandle`); nil: inherited.
    ///   - standardInput: Where its standard input comes from (a `Pipe`); nil: inherited.
    ///   - environment: Variables set for it on top of this process's environment.
    /// - Throws: ``CommandError`` when it cannot be started.
    init(
        name: String,
        executable: String,
        arguments: [String],
        standardOutput: Any? = nil,
        standardInput: Any? = nil,
        environment: [String: String] = [:]
    ) throws {
        self.name = name
        errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("amc-reference-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, set in set }
        }
        if let standardOutput { process.standardOutput = standardOutput }
        if let standardInput { process.standardInput = standardInput }
        process.standardError = try FileHandle(forWritingTo: errorFile)
        do {
            try process.run()
        } catch {
            try? FileManager.default.removeItem(at: errorFile)
            throw CommandError("cannot start \(name) (\(executable)): \(error.localizedDescription)")
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: errorFile)
    }

    /// Its process id.
    var processIdentifier: Int32 { process.processIdentifier }

    /// Whether it is still running.
    var isRunning: Bool { process.isRunning }

    /// Throws if it has exited: a reference that must keep running until its work is done has failed then.
    /// - Throws: ``CommandError`` with its exit status and the end of its standard error.
    func checkStillRunning() throws {
        guard !process.isRunning else { return }
        process.waitUntilExit()
        throw failure(exitedEarly: process.terminationStatus == 0)
    }

    /// Waits for it to exit.
    /// - Throws: ``CommandError`` with its exit status and the end of its standard error when it exits non-zero.
    func waitForSuccess() throws {
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw failure(exitedEarly: false) }
    }

    /// Stops it (SIGTERM) if it is still running.
    func terminate() {
        if process.isRunning { process.terminate() }
    }

    /// Stops it (SIGTERM) and waits for it to exit.
    func stop() {
        terminate()
        process.waitUntilExit()
    }

    /// The failure, quoting the last lines of its standard error (a Python traceback ends with the reason).
    private func failure(exitedEarly: Bool) -> CommandError {
        let text = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).suffix(5)
        var message =
            exitedEarly
            ? "\(name) exited before finishing its work"
            : "\(name) failed (exit \(process.terminationStatus))"
        message += lines.isEmpty ? " without a message" : ": " + lines.joined(separator: " | ")
        return CommandError(message)
    }
}
