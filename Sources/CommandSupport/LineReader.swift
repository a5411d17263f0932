import Foundation

/// Reads a file (or standard input, or a pipe as its writer writes) as lines, without a String per chunk.
/// Lines are split on `\n`; the `\n` is not included (a `\r` before it is kept for the parser to strip). A UTF-8
/// byte-order mark at the start of the input is dropped: it marks the file's encoding and is no part of its first line.
public struct LineReader {
    private let handle: FileHandle
    /// Whether the input is a stream another process writes as it goes (a pipe): a read returns what is there.
    private let streaming: Bool
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private var checkedForBOM = false
    /// Bytes read so far (for progress).
    public private(set) var bytesRead = 0

    /// Opens `path`; `-` is standard input.
    public init(path: String) throws {
        streaming = false
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            guard let opened = FileHandle(forReadingAtPath: path) else {
                throw CommandError("cannot open \(path)")
            }
            handle = opened
        }
    }

    /// Reads a pipe's reading end, line by line as its writer writes them, until the writer closes it.
    public init(pipe handle: FileHandle) {
        self.handle = handle
        streaming = true
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
            // A file is read in large chunks; a pipe as its writer writes (a full chunk would wait for more).
            let chunk = streaming ? handle.availableData : try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty {
                atEnd = true
            } else {
                bytesRead += chunk.count
                buffer.append(contentsOf: chunk)
            }
        }
    }
}
