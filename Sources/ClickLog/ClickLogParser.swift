/// Parses one click-log message (one line of a Clickture log, or one JSON event) into a ``ClickEvent``.
///
/// The parser is total: every input yields either an event or a ``ClickLogError`` naming the reason, so bad
/// input can be dead-lettered and never stops the stream. A message starting with `{` (after leading
/// whitespace) is the JSON form; anything else is the triad form `image_key \t query \t click_count`.
/// One trailing `\n` or `\r\n` is ignored, and so is one leading UTF-8 byte-order mark (`EF BB BF`: a line
/// taken from the start of a file saved with one), so it never becomes part of an image key or a query.
public struct ClickLogParser: Sendable {
    /// Size limits applied to every message.
    public struct Limits: Sendable {
        /// Largest accepted message, in bytes. Default: 1 MiB (Kafka's default `message.max.bytes`).
        public var maxMessageBytes = 1_048_576
        /// Longest accepted normalised query, in UTF-8 bytes. Default: 1024.
        public var maxQueryBytes = 1024
        /// Longest accepted image key, in UTF-8 bytes. Default: 512.
        public var maxImageKeyBytes = 512
        /// Most impressions accepted in one JSON event. Default: 1000.
        public var maxImpressions = 1000
        /// Longest accepted ranking id (`"ranking"`), in UTF-8 bytes. Default: 128 (amc's own ids have 36).
        public var maxRankingBytes = 128
        /// Latest accepted event time, relative to when the message was received (clock skew, time zones).
        /// Default: 1 day. See ``ClickLogParser/eventTimeProblem(_:source:receivedAtMicros:)``.
        public var maxEventTimeAhead: Duration = .seconds(86_400)
        /// Earliest accepted event time, relative to when the message was received. Default: 730 days.
        public var maxEventAge: Duration = .seconds(730 * 86_400)
        public init() {}
    }

    /// The limits in force.
    public var limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Parses a message given as bytes.
    public func parse(_ message: [UInt8]) -> Result<ClickEvent, ClickLogError> {
        message.withUnsafeBufferPointer { parse($0) }
    }

    /// Parses a message given as a string (for files read as text and for tests).
    public func parse(_ message: String) -> Result<ClickEvent, ClickLogError> {
        var message = message
        return message.withUTF8 { parse($0) }
    }

    /// Parses a message in place, without copying it first.
    public func parse(_ message: UnsafeBufferPointer<UInt8>) -> Result<ClickEvent, ClickLogError> {
        do {
            return .success(try parseOrThrow(message))
        } catch {
            return .failure(error)
        }
    }

    private func parseOrThrow(_ raw: UnsafeBufferPointer<UInt8>) throws(ClickLogError) -> ClickEvent {
        guard raw.count <= limits.maxMessageBytes else {
            throw ClickLogError(
                .tooLarge,
                "message of \(raw.count) bytes exceeds the \(limits.maxMessageBytes)-byte limit"
            )
        }
        var end = raw.count
        if end > 0, raw[end - 1] == 0x0A { end -= 1 }
        if end > 0, raw[end - 1] == 0x0D { end -= 1 }
        let start = end >= 3 && raw[0] == 0xEF && raw[1] == 0xBB && raw[2] == 0xBF ? 3 : 0
        let bytes = UnsafeBufferPointer(rebasing: raw[start..<end])
        // An all-ASCII message is valid UTF-8 by construction; only messages with high bytes are validated.
        let isASCII = Self.isASCII(bytes)
        var text: String?
        if !isASCII {
            guard let validated = String(validating: bytes, as: UTF8.self) else {
                throw ClickLogError(.invalidUTF8, "message is not valid UTF-8")
            }
            text = validated
        }
        var first = 0
        while first < bytes.count,
            bytes[first] == 0x20 || bytes[first] == 0x09 || bytes[first] == 0x0D
                || bytes[first] == 0x0A
        {
            first += 1
        }
        guard first < bytes.count else { throw ClickLogError(.empty, "message is empty") }
        if bytes[first] == UInt8(ascii: "{") {
            return try parseJSON(bytes)
        }
        if isASCII, let event = parseASCIITriad(bytes) {
            return event
        }
        return try parseTriad(text ?? String(decoding: bytes, as: UTF8.self))
    }

    /// Whether every byte is below 0x80.
    private static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var combined: UInt8 = 0
        for byte in bytes { combined |= byte }
        return combined < 0x80
    }

    // MARK: - Triad form

    private func parseTriad(_ text: String) throws(ClickLogError) -> ClickEvent {
        let fields = text.utf8.split(separator: 0x09, omittingEmptySubsequences: false)
        guard fields.count == 3 else {
            throw ClickLogError(
                .fieldCount,
                "expected 3 tab-separated fields (image_key, query, click_count), found \(fields.count)"
            )
        }
        let image = try validateImage(Substring(fields[0]), field: "image_key")
        let query = try validateQuery(Substring(fields[1]), field: "query")
        let clicks = try parseClickCount(Substring(fields[2]))
        return ClickEvent(query: query, image: image, clicks: clicks, form: .triad)
    }

    /// The triad form of an all-ASCII message, straight from its bytes. Returns nil whenever the line is not
    /// a well-formed triad (wrong field count, or any field that would be rejected); ``parseTriad(_:)`` then
    /// parses it again and throws the exact error. On success the result equals what ``parseTriad(_:)`` returns.
    private func parseASCIITriad(_ bytes: UnsafeBufferPointer<UInt8>) -> ClickEvent? {
        var firstTab = -1
        var secondTab = -1
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x09 {
                if firstTab < 0 {
                    firstTab = index
                } else if secondTab < 0 {
                    secondTab = index
                } else {
                    return nil
                }
            }
            index += 1
        }
        guard secondTab >= 0 else { return nil }

        // image_key: trimmed of spaces, non-empty, within the limit, printable ASCII without spaces.
        var imageStart = 0
        var imageEnd = firstTab
        while imageStart < imageEnd, bytes[imageStart] == 0x20 { imageStart += 1 }
        while imageEnd > imageStart, bytes[imageEnd - 1] == 0x20 { imageEnd -= 1 }
        guard imageEnd > imageStart, imageEnd - imageStart <= limits.maxImageKeyBytes else { return nil }
        for position in imageStart..<imageEnd {
            let byte = bytes[position]
            guard byte > 0x20, byte < 0x7F else { return nil }
        }

        // query: no control characters other than the whitespace the normaliser collapses.
        let queryBytes = UnsafeBufferPointer(rebasing: bytes[(firstTab + 1)..<secondTab])
        for byte in queryBytes {
            guard byte >= 0x20 || (byte >= 0x09 && byte <= 0x0D), byte != 0x7F else { return nil }
        }
        guard let query = QueryNormalizer.normalizeASCII(queryBytes), !query.isEmpty,
            query.utf8.count <= limits.maxQueryBytes
        else { return nil }

        // click_count: trimmed of spaces, decimal digits only, in 1...Int32.max.
        var countStart = secondTab + 1
        var countEnd = bytes.count
        while countStart < countEnd, bytes[countStart] == 0x20 { countStart += 1 }
        while countEnd > countStart, bytes[countEnd - 1] == 0x20 { countEnd -= 1 }
        guard countEnd > countStart else { return nil }
        var clicks: Int64 = 0
        for position in countStart..<countEnd {
            let digit = bytes[position] &- 0x30
            guard digit <= 9 else { return nil }
            clicks = clicks * 10 + Int64(digit)
            guard clicks <= Int64(Int32.max) else { return nil }
        }
        guard clicks >= 1 else { return nil }

        let image = String(decoding: UnsafeBufferPointer(rebasing: bytes[imageStart..<imageEnd]), as: UTF8.self)
        return ClickEvent(query: query, image: image, clicks: Int32(clicks), form: .triad)
    }

    private func parseClickCount(_ field: Substring) throws(ClickLogError) -> Int32 {
        let trimmed = field.trimmingASCIISpaces
        guard !trimmed.isEmpty else { throw ClickLogError(.invalidClickCount, "click_count is empty") }
        var value: Int64 = 0
        var isNegative = false
        for (offset, byte) in trimmed.utf8.enumerated() {
            if offset == 0, byte == UInt8(ascii: "-"), trimmed.utf8.count > 1 {
                isNegative = true
                continue
            }
            guard byte >= 0x30, byte <= 0x39 else {
                throw ClickLogError(
                    .invalidClickCount,
                    "click_count \(ClickLogError.excerpt(trimmed)) is not an integer"
                )
            }
            value = value * 10 + Int64(byte - 0x30)
            if value > Int64(Int32.max) {
                throw ClickLogError(
                    .invalidClickCount,
                    "click_count \(ClickLogError.excerpt(trimmed)) overflows (maximum \(Int32.max))"
                )
            }
        }
        guard !isNegative else {
            throw ClickLogError(.invalidClickCount, "click_count \(ClickLogError.excerpt(trimmed)) is negative")
        }
        guard value >= 1 else { throw ClickLogError(.invalidClickCount, "click_count must be at least 1, got 0") }
        return Int32(value)
    }

    // MARK: - Shared validation

    private func validateQuery(_ raw: Substring, field: String) throws(ClickLogError) -> String {
        try QueryNormalizer.validated(raw, field: field, maxBytes: limits.maxQueryBytes)
    }

    private func validateImage(_ raw: Substring, field: String) throws(ClickLogError) -> String {
        let key = raw.trimmingASCIISpaces
        guard !key.isEmpty else { throw ClickLogError(.invalidImage, "\(field) is empty") }
        guard key.utf8.count <= limits.maxImageKeyBytes else {
            throw ClickLogError(
                .invalidImage,
                "\(field) is \(key.utf8.count) bytes (limit \(limits.maxImageKeyBytes))"
            )
        }
        for scalar in key.unicodeScalars
        where scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
            throw ClickLogError(
                .invalidImage,
                "\(field) \(ClickLogError.excerpt(key)) contains whitespace or control characters"
            )
        }
        return String(key)
    }

    // MARK: - JSON form

    private func parseJSON(_ bytes: UnsafeBufferPointer<UInt8>) throws(ClickLogError) -> ClickEvent {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw ClickLogError(.invalidJSON, "\(error.message) at byte \(error.offset)")
        }
        guard case .object(let members) = value else {
            throw ClickLogError(.invalidJSON, "a JSON event must be an object")
        }
        let fields = try JSONObjectFields.uniqueMembers(members)

        guard case .string(let rawQuery)? = fields["query"] else {
            throw Self.fieldError("query", "a string", fields["query"])
        }
        let query = try validateQuery(Substring(rawQuery), field: "query")
        guard case .string(let rawImage)? = fields["image"] else {
            throw Self.fieldError("image", "a string", fields["image"])
        }
        let image = try validateImage(Substring(rawImage), field: "image")

        var clicks: Int32 = 1
        if let value = fields["clicks"], value != .null {
            guard let count = JSONObjectFields.integer(value), count >= 1, count <= Int64(Int32.max) else {
                throw Self.fieldError("clicks", "an integer in 1...\(Int32.max)", value)
            }
            clicks = Int32(count)
        }

        var position: Int32?
        if let value = fields["position"], value != .null {
            guard let rank = JSONObjectFields.integer(value), rank >= 0, rank <= Int64(Int32.max) else {
                throw Self.fieldError("position", "an integer ≥ 0", value)
            }
            position = Int32(rank)
        }

        var timestamp: Int64?
        if let value = fields["ts"], value != .null {
            guard case .string(let text) = value, let micros = RFC3339.parseMicros(text) else {
                throw Self.fieldError("ts", "an RFC 3339 date-time string", value)
            }
            timestamp = micros
        }

        var impressions: [String]?
        if let value = fields["impressions"], value != .null {
            guard case .array(let elements) = value else {
                throw Self.fieldError("impressions", "an array of image keys", value)
            }
            guard elements.count <= limits.maxImpressions else {
                throw ClickLogError(
                    .invalidField,
                    "impressions has \(elements.count) entries (limit \(limits.maxImpressions))"
                )
            }
            var keys: [String] = []
            keys.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                guard case .string(let key) = element else {
                    throw Self.fieldError("impressions[\(index)]", "a string", element)
                }
                keys.append(try validateImage(Substring(key), field: "impressions[\(index)]"))
            }
            impressions = keys
            if position == nil, let rank = keys.firstIndex(of: image) {
                position = Int32(rank)
            }
        }

        var session: String?
        if let value = fields["session"], value != .null {
            guard case .string(let text) = value else { throw Self.fieldError("session", "a string", value) }
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw ClickLogError(.invalidField, "field 'session' contains control characters")
            }
            session = text
        }

        var ranking: String?
        if let value = fields["ranking"], value != .null {
            guard case .string(let text) = value else { throw Self.fieldError("ranking", "a string", value) }
            guard !text.isEmpty else { throw ClickLogError(.invalidField, "field 'ranking' is empty") }
            guard text.utf8.count <= limits.maxRankingBytes else {
                throw ClickLogError(
                    .invalidField,
                    "field 'ranking' is \(text.utf8.count) bytes (limit \(limits.maxRankingBytes))"
                )
            }
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw ClickLogError(.invalidField, "field 'ranking' contains control characters")
            }
            ranking = text
        }

        return ClickEvent(
            query: query,
            image: image,
            clicks: clicks,
            position: position,
            timestampMicros: timestamp,
            impressions: impressions,
            session: session,
            ranking: ranking,
            form: .json
        )
    }

    // MARK: - Event time

    /// Why an event time is refused, or nil when it is within the limits: no earlier than
    /// ``Limits/maxEventAge`` and no later than ``Limits/maxEventTimeAhead`` from when the message was received.
    /// A time outside them (a `ts` of year 1 or 9999, a producer's broken clock) would otherwise create
    /// partitions for its month and hold retention back to it (`Docs/relevance.md`).
    /// - Parameters:
    ///   - micros: The event time, microseconds since the epoch.
    ///   - source: What the time came from, for the message (`field 'ts'`, `the Kafka message timestamp`).
    ///   - receivedAtMicros: When the message was received, microseconds since the epoch.
    /// - Returns: The `event_time_out_of_range` error, or nil.
    public func eventTimeProblem(_ micros: Int64, source: String, receivedAtMicros: Int64) -> ClickLogError? {
        let ahead = limits.maxEventTimeAhead.wholeMicroseconds
        let age = limits.maxEventAge.wholeMicroseconds
        if micros > receivedAtMicros.addingClamped(ahead) {
            return ClickLogError(
                .eventTimeOutOfRange,
                "\(source) \(Self.describe(micros)) is more than \(Self.describe(limits.maxEventTimeAhead)) "
                    + "after the message was received (\(Self.describe(receivedAtMicros)))"
            )
        }
        if micros < receivedAtMicros.addingClamped(-age) {
            return ClickLogError(
                .eventTimeOutOfRange,
                "\(source) \(Self.describe(micros)) is more than \(Self.describe(limits.maxEventAge)) "
                    + "before the message was received (\(Self.describe(receivedAtMicros)))"
            )
        }
        return nil
    }

    /// An RFC 3339 time for years 1...9999, else the raw count.
    private static func describe(_ micros: Int64) -> String {
        // 0001-01-01T00:00:00Z ..< 10000-01-01T00:00:00Z
        guard micros >= -62_135_596_800_000_000, micros < 253_402_300_800_000_000 else {
            return "\(micros) µs since the epoch"
        }
        return RFC3339.format(micros: micros)
    }

    /// `730 day(s)`, `36 hour(s)`, `90 second(s)`.
    private static func describe(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds % 86_400 == 0 { return "\(seconds / 86_400) day(s)" }
        if seconds % 3600 == 0 { return "\(seconds / 3600) hour(s)" }
        return "\(seconds) second(s)"
    }

    /// As ``JSONObjectFields``' field errors, and `field 'name' is missing` for an absent required field.
    private static func fieldError(_ name: String, _ expected: String, _ value: JSONValue?) -> ClickLogError {
        guard let value else { return ClickLogError(.invalidField, "field '\(name)' is missing") }
        return JSONObjectFields.fieldError(name, expected, value)
    }
}

extension Duration {
    /// The duration in whole microseconds (saturating).
    fileprivate var wholeMicroseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        return scaled.addingClamped(attoseconds / 1_000_000_000_000)
    }
}

extension Int64 {
    /// The sum, saturating at the type's bounds.
    fileprivate func addingClamped(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        guard !overflow else { return other < 0 ? .min : .max }
        return sum
    }
}

extension Substring {
    /// The substring without leading and trailing ASCII spaces.
    var trimmingASCIISpaces: Substring {
        var result = self
        while result.first == " " { result = result.dropFirst() }
        while result.last == " " { result = result.dropLast() }
        return result
    }
}
