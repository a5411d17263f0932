import Foundation

/// Reads a file (or standard input) as lines in large chunks, without a String per chunk.
/// Lines are split on `\n`; the `\n` is not included (a `\r` before it is kept for the parser to strip). A UTF-8
/// byte-order mark at the start of the input is dropped: it marks the file's encoding and is no part of its first line.
public struct LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private var checkedForBOM = false
    /// Bytes read so far (for progress).
    public private(set) var bytesRead = 0

    /// Opens `path`; `-` is standard input.
    public init(path: String) throws {
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            guard let opened = FileHandle(forReadingAtPath: path) else {
                throw CommandError("cannot open \(path)")
            }
            handle = opened
        }
    }

    /// The next line, or nil at end of input.
    public mutating func next() throws -> ArraySlice<UInt8>? {
        while true {
            if !checkedForBOM, atEnd || buffer.count >= 3 || buffer.contains(0x0A) {
                checkedForBOM = true
                if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
            }
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = buffer[start..<newline]
                start = newline + 1
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                return line
            }
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty {
                atEnd = true
            } else {
                bytesRead += chunk.count
                buffer.append(contentsOf: chunk)
            }
        }
    }
}
