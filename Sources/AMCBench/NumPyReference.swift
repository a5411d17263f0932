import CommandSupport
import Foundation

/// What `amc bench learn` and `amc bench score` share about their NumPy references: finding NumPy, running a
/// reference script, and the raw little-endian files the two sides exchange (readable with `numpy.fromfile`).
enum NumPyReference {
    /// Whether `python` (looked up in PATH unless it contains a '/') can import NumPy.
    static func isAvailable(python: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, "-c", "import numpy"]
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
        context: String? = nil
    ) throws
        -> [Substring]
    {
        let output = Pipe()
        let reference = try ReferenceProcess(
            name: "the NumPy reference (\(script)\(context.map { ", \($0)" } ?? ""))",
            executable: "/usr/bin/env",
            arguments: [python, script] + arguments,
            standardOutput: output
        )
        // Reads until the reference closes its output: it has exited (or closed it on purpose).
        let bytes = output.fileHandleForReading.readDataToEndOfFile()
        try reference.waitForSuccess()
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
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
