import CommandSupport
import Foundation
import Synchronization

/// `amc bench score`'s ONNX Runtime reference (`Benchmarks/reference_score_onnx.py`): the same per-query graph —
/// query encoding, the gather of the candidates' stored encodings, attentions, MTN, cosine, sort — run by ONNX
/// Runtime on one thread, on the files the NumPy reference reads.
enum OnnxRuntimeReference {
    /// What a run measured.
    struct Result {
        var latency: LatencySummary
        /// `onnxruntime=<v> onnx=<v> numpy=<v> python=<v>`.
        var versions: String
        /// Every score, queries × candidates in candidate order.
        var scores: [Float]
    }

    /// Whether `python` (looked up in PATH unless it contains a '/') can import onnx and onnxruntime.
    static func isAvailable(python: String) -> Bool {
        NumPyReference.isAvailable(python: python, modules: ["numpy", "onnx", "onnxruntime"])
    }

    /// Runs the reference on the folder ``ScoreWorkload/write(to:weights:model:)`` wrote and reads its scores.
    /// - Throws: ``CommandError`` when it fails (quoting its standard error) or prints no figures.
    static func run(_ script: String, python: String, directory: URL) throws -> Result {
        let lines = try NumPyReference.run(
            script,
            python: python,
            arguments: [directory.path],
            name: "the ONNX Runtime reference"
        )
        return try result(printed: lines, directory: directory)
    }

    /// The figures a finished run printed and the scores it wrote to `directory`.
    /// - Throws: ``CommandError`` when it printed no figures.
    private static func result(printed lines: [Substring], directory: URL) throws -> Result {
        let (latency, versions) = NumPyReference.scoringFigures(lines)
        guard let latency else { throw CommandError("the ONNX Runtime reference printed no REFERENCE line") }
        let scores = try NumPyReference.readFloats(directory.appendingPathComponent("onnx_scores.f32"))
        return Result(latency: latency, versions: versions, scores: scores)
    }

    /// A run driven round by round (the script's `--rounds`): started once — its graph built, warmed up — then each
    /// ``time(round:)`` times its next share of the queries while the caller waits, so that the caller can time its
    /// own share of the same queries in between and both sides' figures come from the same minutes.
    final class Rounds: Sendable {
        private let reference: ReferenceProcess
        private let commands: FileHandle
        /// Its standard output, and the lines read from it that were not round markers.
        private let output: Mutex<(reader: LineReader, lines: [String])>
        private let directory: URL
        /// Queries each side runs unmeasured at the start of a round: the caches are the other side's after its round.
        static let warmupQueries = 20

        /// Starts the reference on the folder ``ScoreWorkload/write(to:weights:model:)`` wrote and waits until it
        /// is ready to time its first round.
        /// - Throws: ``CommandError`` when it cannot start or fails before it is ready (quoting its standard error).
        init(_ script: String, python: String, directory: URL, rounds: Int) throws {
            precondition(rounds > 1, "a run of one round needs no driving: use run(_:python:directory:)")
            let (output, input) = (Pipe(), Pipe())
            reference = try ReferenceProcess(
                name: "the ONNX Runtime reference (\(script))",
                executable: "/usr/bin/env",
                arguments: [
                    python, script, directory.path, "--rounds", String(rounds), "--round-warmup",
                    String(Self.warmupQueries),
                ],
                standardOutput: output,
                standardInput: input
            )
            commands = input.fileHandleForWriting
            self.output = Mutex((LineReader(pipe: output.fileHandleForReading), []))
            self.directory = directory
            try readUntil("READY")
        }

        /// Times round `round` (1, 2, … in order, as many as it was started with).
        /// - Throws: ``CommandError`` when the reference fails or stops before finishing the round.
        func time(round: Int) throws {
            do {
                try commands.write(contentsOf: Data("GO\n".utf8))
            } catch {
                try reference.waitForSuccess()
                throw CommandError("\(reference.name) stopped reading its rounds before round \(round)")
            }
            try readUntil("ROUND \(round)")
        }

        /// Waits for the reference to finish (after the last round) and reads its figures and scores.
        /// - Throws: ``CommandError`` when it fails or prints no figures.
        func finish() throws -> Result {
            try? commands.close()
            let lines = try output.withLock { output in
                while let line = try output.reader.next() { output.lines.append(String(decoding: line, as: UTF8.self)) }
                return output.lines
            }
            try reference.waitForSuccess()
            return try OnnxRuntimeReference.result(printed: lines.map { Substring($0) }, directory: directory)
        }

        /// Reads its output up to the line `marker`.
        private func readUntil(_ marker: String) throws {
            let found = try output.withLock { output in
                while let line = try output.reader.next() {
                    let text = String(decoding: line, as: UTF8.self)
                    if text == marker { return true }
                    output.lines.append(text)
                }
                return false
            }
            guard !found else { return }
            try reference.waitForSuccess()
            throw CommandError("\(reference.name) exited before printing \(marker)")
        }
    }

    /// The largest absolute difference between `ours` and `theirs` and where it is.
    /// - Throws: ``CommandError`` when the counts differ or a difference exceeds `tolerance` (naming the query
    ///   and the candidate).
    static func check(ours: [Float], theirs: [Float], candidates: Int, tolerance: Float) throws -> Float {
        guard theirs.count == ours.count else {
            throw CommandError("the ONNX Runtime reference wrote \(theirs.count) scores, expected \(ours.count)")
        }
        var worst: Float = 0
        var worstAt = 0
        for i in ours.indices where !(abs(ours[i] - theirs[i]) <= worst) {
            worst = abs(ours[i] - theirs[i])
            worstAt = i
        }
        guard worst <= tolerance else {
            throw CommandError(
                "the Swift scorer and the ONNX Runtime reference disagree: query \(worstAt / candidates + 1), candidate \(worstAt % candidates + 1): \(ours[worstAt]) vs \(theirs[worstAt])"
            )
        }
        return worst
    }

    /// The target: amc's in-process p99 at most this fraction of ONNX Runtime's single-thread p99, same run.
    static let targetRatio = 0.5

    /// The phase line: ONNX Runtime's figures, amc's p99 beside them and the agreement of the scores.
    static func summary(_ latency: LatencySummary, ours: LatencySummary, difference: Float) -> String {
        String(
            format:
                "ONNX Runtime: same graph on one thread, p50 %.3f ms, p99 %.3f ms (amc p99 %.3f ms, %.2f× of it); scores agree within %.1e",
            latency.p50,
            latency.p99,
            ours.p99,
            ours.p99 / Swift.max(latency.p99, 1e-9),
            difference
        )
    }

    /// The table's extra column: amc's time as a fraction of ONNX Runtime's, at p50 and p99.
    static func ratio(_ ours: LatencySummary, _ theirs: LatencySummary) -> String {
        String(
            format: "   amc/ORT at p50: %.2f×, p99: %.2f×",
            ours.p50 / Swift.max(theirs.p50, 1e-9),
            ours.p99 / Swift.max(theirs.p99, 1e-9)
        )
    }

    /// The target line: amc's p99 next to ONNX Runtime's, their ratio and whether it meets ``targetRatio``.
    static func target(
        _ ours: LatencySummary,
        _ theirs: LatencySummary,
        _ versions: String,
        _ difference: Float
    )
        -> String
    {
        let ratio = ours.p99 / Swift.max(theirs.p99, 1e-9)
        return String(
            format:
                "target vs ONNX Runtime (%@): amc p99 %.3f ms, ORT p99 %.3f ms, ratio %.2f (≤ %.1f: %@); scores agree within %.1e",
            versions,
            ours.p99,
            theirs.p99,
            ratio,
            targetRatio,
            ratio <= targetRatio ? "met" : "MISSED",
            difference
        )
    }
}
