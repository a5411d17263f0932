/// A syntax error found by ``JSONScanner``: what is wrong, and where.
public struct JSONSyntaxError: Error, Sendable, Hashable {
    /// What is wrong, for example `unterminated string`.
    public var message: String
    /// The zero-based byte offset at which the problem was found.
    public var offset: Int

    /// Creates an error.
    /// - Parameters:
    ///   - message: What is wrong.
    ///   - offset: The zero-based byte offset.
    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }
}

/// A strict, low-level JSON (RFC 8259) lexer over UTF-8 bytes, shared by the JSON readers.
///
/// It reads tokens at ``index`` and steps past them; a reader decides what to read next and builds its own values.
/// Every syntax error is a ``JSONSyntaxError`` whose offset is ``index`` at the point of failure. The scanner does
/// not own the bytes: they must outlive it (it is meant to live inside a `withUnsafeBufferPointer` call).
public struct JSONScanner {
    /// The containers, for ``enter(_:)`` and ``next(in:)``.
    public enum Container: Sendable {
        /// `[…]`.
        case array
        /// `{…}`.
        case object
    }

    /// The UTF-8 text.
    public let bytes: UnsafeBufferPointer<UInt8>
    /// The offset of the next byte to read.
    public var index: Int

    /// Creates a scanner at the start of `bytes`.
    /// - Parameter bytes: The text; it must stay valid while the scanner is used.
    public init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        self.index = 0
    }

    /// Whether every byte has been read.
    @inlinable public var isAtEnd: Bool { index >= bytes.count }

    /// The byte at ``index``, or nil at the end.
    @inlinable public var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    /// An error with `message` at the current ``index``.
    @inlinable public func error(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(message: message, offset: index)
    }

    /// Whether the byte at ``index`` is `byte` (false at the end).
    @inlinable public func peek(_ byte: UInt8) -> Bool { index < bytes.count && bytes[index] == byte }

    /// Steps past JSON whitespace (space, tab, line feed, carriage return).
    @inlinable public mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// The bytes of `span` as a string.
    @inlinable public func text(_ span: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[span]), as: UTF8.self)
    }

    // MARK: - Literals

    /// Steps past `word` if the bytes at ``index`` spell it; otherwise returns false and stays put.
    @inlinable public mutating func skip(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
        index += count
        return true
    }

    /// Steps past the literal `word` (`true`, `false` or `null`).
    /// - Throws: `unexpected end of input` when fewer bytes remain than the word has, else `invalid literal` when
    ///   they differ from it; at ``index``.
    @inlinable public mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        guard index + word.utf8CodeUnitCount <= bytes.count else { throw error("unexpected end of input") }
        guard skip(word) else { throw error("invalid literal") }
    }

    // MARK: - Numbers

    /// Steps past one number, checked against the RFC 8259 grammar, and returns its span. ``index`` must be at a
    /// byte that can start a number (`-` or a digit).
    /// - Throws: `invalid number` at the first byte that breaks the grammar.
    @inlinable public mutating func numberSpan() throws(JSONSyntaxError) -> Range<Int> {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, Self.isDigit(bytes[index]) else { throw error("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, Self.isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard index < bytes.count, Self.isDigit(bytes[index]) else { throw error("invalid number") }
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        }
        return start..<index
    }

    /// Steps past one number (see ``numberSpan()``) and returns its exact text.
    @inlinable public mutating func number() throws(JSONSyntaxError) -> String {
        text(try numberSpan())
    }

    /// Whether `byte` is an ASCII digit.
    @inlinable public static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// Whether a number starts at ``index`` (a `-` or a digit).
    @inlinable public var atNumber: Bool {
        guard let byte = current else { return false }
        return byte == UInt8(ascii: "-") || Self.isDigit(byte)
    }

    // MARK: - Strings

    /// Steps past one string and returns its decoded value. ``index`` must be at the opening quote.
    ///
    /// Escapes are decoded (`\uXXXX` surrogate pairs combined); raw bytes are taken as they are (the caller
    /// ensures the text is valid UTF-8).
    /// - Throws: `control character in string`, `invalid escape in string`, `short \u escape`,
    ///   `invalid \u escape`, `unpaired surrogate in \u escape` or `unterminated string`.
    public mutating func string() throws(JSONSyntaxError) -> String {
        index += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = index
        var escaped = false
        func flushRun(_ end: Int) {
            if end > runStart { scalars.append(contentsOf: text(runStart..<end).unicodeScalars) }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                if !escaped {
                    // No escape seen: the string is exactly the run of bytes.
                    let value = text(runStart..<index)
                    index += 1
                    return value
                }
                flushRun(index)
                index += 1
                return String(scalars)
            }
            if byte < 0x20 { throw error("control character in string") }
            if byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            escaped = true
            flushRun(index)
            index += 1
            guard index < bytes.count else { break }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"): scalars.append(try unicodeEscape())
            default: throw error("invalid escape in string")
            }
            runStart = index
        }
        throw error("unterminated string")
    }

    /// The scalar of a `\u` escape whose `\u` was just read: four hex digits, or a surrogate pair of two escapes.
    private mutating func unicodeEscape() throws(JSONSyntaxError) -> Unicode.Scalar {
        let high = try hex4()
        if (0xD800...0xDBFF).contains(high) {
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw error("unpaired surrogate in \\u escape") }
            index += 2
            let low = try hex4()
            guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in \\u escape") }
            return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
        }
        guard let scalar = Unicode.Scalar(high) else { throw error("unpaired surrogate in \\u escape") }
        return scalar
    }

    /// Four hex digits of a `\u` escape.
    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case 0x30...0x39: digit = UInt32(byte - 0x30)
            case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    // MARK: - Containers

    /// Steps into the container that opens at ``index`` (`[` or `{`, not checked) and past the whitespace after it.
    /// - Returns: True when at the container's first item; false for an empty container, whose closing bracket has
    ///   then been read too.
    @inlinable public mutating func enter(_ container: Container) -> Bool {
        index += 1
        skipWhitespace()
        guard peek(container == .array ? UInt8(ascii: "]") : UInt8(ascii: "}")) else { return true }
        index += 1
        return false
    }

    /// Reads what follows an item of `container`: whitespace, then `,` and whitespace, or the closing bracket.
    /// - Returns: True when at the next item; false when the container has closed.
    /// - Throws: `unterminated array` (or `object`) at the end; `expected ',' or ']' in array` (or
    ///   `',' or '}' in object`) at any other byte.
    @inlinable public mutating func next(in container: Container) throws(JSONSyntaxError) -> Bool {
        skipWhitespace()
        let isArray = container == .array
        guard index < bytes.count else { throw error(isArray ? "unterminated array" : "unterminated object") }
        let byte = bytes[index]
        if byte == UInt8(ascii: ",") {
            index += 1
            skipWhitespace()
            return true
        }
        guard byte == (isArray ? UInt8(ascii: "]") : UInt8(ascii: "}")) else {
            throw error(isArray ? "expected ',' or ']' in array" : "expected ',' or '}' in object")
        }
        index += 1
        return false
    }

    /// Steps past one value of any type at ``index``, checking its syntax (a literal cut short is `invalid
    /// literal`).
    /// - Parameters:
    ///   - depth: How deep the value is nested already (0 at the top).
    ///   - maxDepth: The deepest nesting accepted.
    /// - Throws: `nesting deeper than <maxDepth>`, `unexpected end of input`, `unexpected character`, `invalid
    ///   literal`, or an error of the strings, numbers and containers inside.
    public mutating func skipValue(depth: Int = 0, maxDepth: Int) throws(JSONSyntaxError) {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        guard let byte = current else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "["):
            guard enter(.array) else { return }
            repeat {
                try skipValue(depth: depth + 1, maxDepth: maxDepth)
            } while try next(in: .array)
        case UInt8(ascii: "{"):
            guard enter(.object) else { return }
            repeat {
                _ = try memberKey()
                try skipValue(depth: depth + 1, maxDepth: maxDepth)
            } while try next(in: .object)
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            guard skip("true") || skip("false") || skip("null") else { throw error("invalid literal") }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try numberSpan()
        default: throw error("unexpected character")
        }
    }

    /// Reads an object member's key at ``index``, then whitespace, `:` and whitespace: the scanner is left at the
    /// member's value.
    /// - Throws: `expected a string key in object` or `expected ':' in object`, or a string error.
    public mutating func memberKey() throws(JSONSyntaxError) -> String {
        guard peek(UInt8(ascii: "\"")) else { throw error("expected a string key in object") }
        let key = try string()
        skipWhitespace()
        guard peek(UInt8(ascii: ":")) else { throw error("expected ':' in object") }
        index += 1
        skipWhitespace()
        return key
    }
}
