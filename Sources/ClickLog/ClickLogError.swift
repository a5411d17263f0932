/// Why a click-log message was rejected. Every rejected message becomes a dead letter carrying this.
///
/// The ``description`` never contains more than a short, escaped excerpt of the input.
public struct ClickLogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable rejection code (stored as `dead_letters.reason_code`).
    public struct Reason: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The message had no content (or only whitespace).
        public static let empty = Reason(rawValue: "empty")
        /// The message exceeded ``ClickLogParser/Limits/maxMessageBytes``.
        public static let tooLarge = Reason(rawValue: "too_large")
        /// The bytes are not valid UTF-8.
        public static let invalidUTF8 = Reason(rawValue: "invalid_utf8")
        /// A triad line without exactly three tab-separated fields.
        public static let fieldCount = Reason(rawValue: "field_count")
        /// The query is empty after normalisation.
        public static let emptyQuery = Reason(rawValue: "empty_query")
        /// The query contains control characters (NUL and other C0/C1 controls; whitespace is collapsed first).
        public static let invalidQuery = Reason(rawValue: "invalid_query")
        /// The query is longer than ``ClickLogParser/Limits/maxQueryBytes`` after normalisation.
        public static let queryTooLong = Reason(rawValue: "query_too_long")
        /// The image key is empty, too long, or contains whitespace or control characters.
        public static let invalidImage = Reason(rawValue: "invalid_image")
        /// The click count is not an integer in 1...2147483647.
        public static let invalidClickCount = Reason(rawValue: "invalid_click_count")
        /// The JSON form is not well-formed JSON, or not an object.
        public static let invalidJSON = Reason(rawValue: "invalid_json")
        /// A JSON field is missing or has the wrong type or range.
        public static let invalidField = Reason(rawValue: "invalid_field")
        /// The event time (`ts`, else the Kafka message timestamp) is further from when the message was received
        /// than ``ClickLogParser/Limits/maxEventAge`` or ``ClickLogParser/Limits/maxEventTimeAhead`` allow.
        public static let eventTimeOutOfRange = Reason(rawValue: "event_time_out_of_range")
    }

    /// The rejection code.
    public var reason: Reason
    /// A human-readable explanation.
    public var detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}

extension ClickLogError {
    /// A short, printable excerpt of user input for error messages (at most `limit` characters, escaped).
    static func excerpt(_ text: Substring, limit: Int = 40) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(limit) {
            out += scalar.escaped(asASCII: false)
        }
        if text.unicodeScalars.count > limit { out += "…" }
        return "\"\(out)\""
    }
}
