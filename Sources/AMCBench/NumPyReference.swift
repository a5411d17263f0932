import CommandSupport
import Foundation

/// What `amc bench learn` and `amc bench score` share about their NumPy references: finding NumPy, running a
/// reference script, and the raw little-endian files the two sides exchange (readable with `numpy.fromfile`).
enum NumPyReference {
    /// Whether `python` (looked up in PATH unless it contains a '/') can import NumPy (and the other `modules`).
    static func isAvailable(python: String, modules: [String] = ["numpy"]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", "import " + modules.joined(separator: ", ")]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return false
        }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// Runs `python script arguments…` and returns its standard output, line by line.
    /// - Throws: ``CommandError`` when it exits non-zero, quoting the end of its standard error (`context` is
    ///   added to the message).
    static func run(
        _ script: String,
        python: String,
        arguments: [String],
        context: String? = nil,
        name: String = "the NumPy reference"
    ) throws
        -> [Substring]
    {
        let output = Pipe()
        let reference = try ReferenceProcess(
            name: "\(name) (\(script)\(context.map { ", \($0)" } ?? ""))",
            executable: "/usr/bin/env",
            arguments: [python, script] + arguments,
            standardOutput: output
        )
        // Reads until the reference closes its output: it has exited (or closed it on purpose).
        let bytes = output.fileHandleForReading.readDataToEndOfFile()
        try reference.waitForSuccess()
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
    }

    /// The figures a scoring reference prints: `VERSIONS <name>=<v>…` and `REFERENCE queries=<n> p50_ms=<x>
    /// p99_ms=<x> max_ms=<x>` (nil when that line is missing or incomplete).
    static func scoringFigures(_ lines: [Substring]) -> (latency: LatencySummary?, versions: String) {
        var latency: LatencySummary?
        var versions = ""
        for line in lines {
            let fields = line.split(separator: " ")
            if fields.first == "VERSIONS" {
                versions = fields.dropFirst().joined(separator: " ")
            } else if fields.first == "REFERENCE" {
                var values: [String: Double] = [:]
                for field in fields.dropFirst() {
                    let parts = field.split(separator: "=", maxSplits: 1)
                    if parts.count == 2 { values[String(parts[0])] = Double(parts[1]) }
                }
                if let p50 = values["p50_ms"], let p99 = values["p99_ms"], let max = values["max_ms"] {
                    latency = LatencySummary(p50: p50, p99: p99, max: max, count: Int(values["queries"] ?? 0))
                }
            }
        }
        return (latency, versions)
    }

    /// Writes little-endian `int32` values.
    static func write(_ values: [Int32], to url: URL) throws {
        try Data(values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }).write(to: url)
    }

    /// Writes little-endian `float32` values.
    static func write(_ values: [Float], to url: URL) throws {
        try Data(values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }).write(to: url)
    }

    /// Reads little-endian `float32` values.
    static func readFloats(_ url: URL) throws -> [Float] {
        let data = try Data(contentsOf: url)
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        }
    }
}
