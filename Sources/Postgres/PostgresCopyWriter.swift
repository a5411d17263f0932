/// Writes rows for `COPY ... FROM STDIN` in text format into a contiguous byte buffer, handing it to
/// libpq in large chunks.
///
/// Fields are separated by tabs and rows end with a newline. Text is escaped per the COPY text format
/// (`\\`, `\t`, `\n`, `\r`) and `nil` becomes `\N`. Rows can be delimited either by calling
/// ``beginRow()`` before each row or ``endRow()`` after it; a row left open is ended when the COPY ends.
///
/// Obtain one from ``PostgresConnection/copyIn(_:_:)``; it is `~Copyable` so it cannot escape the closure.
public struct PostgresCopyWriter: ~Copyable {
    /// Bytes are handed to libpq once the buffer holds this many.
    static let flushThreshold = 256 * 1024

    private var buffer: [UInt8]
    private var fieldsInRow = 0
    private let sink: (UnsafeRawBufferPointer) -> Bool
    /// Set when libpq refused data; later writes are discarded and the COPY fails at the end.
    private(set) var failed = false
    /// Rows completed so far.
    public private(set) var rowCount = 0

    init(sink: @escaping (UnsafeRawBufferPointer) -> Bool) {
        self.sink = sink
        self.buffer = []
        buffer.reserveCapacity(Self.flushThreshold + 64 * 1024)
    }

    // MARK: - Rows

    /// Starts a row, ending the previous one if it is still open. Optional when ``endRow()`` is used.
    public mutating func beginRow() {
        if fieldsInRow > 0 { endRow() }
    }

    /// Ends the current row.
    public mutating func endRow() {
        buffer.append(UInt8(ascii: "\n"))
        fieldsInRow = 0
        rowCount += 1
        if buffer.count >= Self.flushThreshold { flush() }
    }

    // MARK: - Fields

    /// Appends a text field, escaped; `nil` writes `\N` (NULL).
    /// - Parameter value: The text.
    public mutating func append(_ value: String?) {
        guard var value else {
            appendNull()
            return
        }
        separate()
        if value.utf8.withContiguousStorageIfAvailable({ appendEscaped($0) }) == nil {
            value.withUTF8 { appendEscaped($0) }
        }
    }

    /// Appends already-valid UTF-8 text, escaped.
    /// - Parameter bytes: The UTF-8 bytes (not validated).
    public mutating func append(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        separate()
        appendEscaped(bytes)
    }

    /// Appends an integer field.
    public mutating func append(_ value: Int64) {
        separate()
        appendDecimal(value)
    }

    /// Appends an integer field.
    public mutating func append(_ value: Int) {
        separate()
        appendDecimal(Int64(value))
    }

    /// Appends an integer field.
    public mutating func append(_ value: Int32) {
        separate()
        appendDecimal(Int64(value))
    }

    /// Appends a float field (shortest round-tripping text; `NaN`, `Infinity`, `-Infinity`).
    public mutating func append(_ value: Double) {
        separate()
        buffer.append(contentsOf: PGText.float(value).utf8)
    }

    /// Appends a `bytea` field as `\\x` followed by hex digits.
    /// - Parameter bytes: The bytes.
    public mutating func append(bytea bytes: [UInt8]) {
        separate()
        buffer.append(UInt8(ascii: "\\"))
        buffer.append(UInt8(ascii: "\\"))
        buffer.append(UInt8(ascii: "x"))
        for byte in bytes {
            buffer.append(Self.hexDigits[Int(byte >> 4)])
            buffer.append(Self.hexDigits[Int(byte & 0x0F)])
        }
        if buffer.count >= Self.flushThreshold { flush() }
    }

    /// Appends a NULL field.
    public mutating func appendNull() {
        separate()
        buffer.append(UInt8(ascii: "\\"))
        buffer.append(UInt8(ascii: "N"))
    }

    // MARK: - Internals

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    @inline(__always)
    private mutating func separate() {
        if fieldsInRow > 0 { buffer.append(UInt8(ascii: "\t")) }
        fieldsInRow += 1
    }

    private mutating func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        for index in 0..<bytes.count {
            let escape: UInt8
            switch bytes[index] {
            case UInt8(ascii: "\\"): escape = UInt8(ascii: "\\")
            case UInt8(ascii: "\t"): escape = UInt8(ascii: "t")
            case UInt8(ascii: "\n"): escape = UInt8(ascii: "n")
            case UInt8(ascii: "\r"): escape = UInt8(ascii: "r")
            default: continue
            }
            if runStart < index {
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            }
            buffer.append(UInt8(ascii: "\\"))
            buffer.append(escape)
            runStart = index + 1
        }
        if runStart < bytes.count {
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
        if buffer.count >= Self.flushThreshold { flush() }
    }

    private mutating func appendDecimal(_ value: Int64) {
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        let start = buffer.count
        repeat {
            buffer.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        buffer[start...].reverse()
    }

    /// Hands the buffered bytes to libpq.
    mutating func flush() {
        guard !buffer.isEmpty else { return }
        if !failed {
            failed = !buffer.withUnsafeBytes { sink($0) }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Ends an open row and flushes; returns false if any data was refused.
    mutating func finish() -> Bool {
        if fieldsInRow > 0 { endRow() }
        flush()
        return !failed
    }
}
