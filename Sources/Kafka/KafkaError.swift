import Crdkafka

/// An error reported by librdkafka or by this wrapper.
///
/// `description` never contains configuration values of sensitive keys (see ``KafkaConfig``) nor message payloads.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    /// The librdkafka / Kafka protocol error code.
    public var code: KafkaErrorCode
    /// Human-readable detail (librdkafka's error string plus context).
    public var message: String
    /// Whether the condition is transient: retrying later (or with a new client) can succeed.
    public var isRetriable: Bool
    /// Whether the client that reported the error is unusable and must be recreated.
    public var isFatal: Bool
    /// Where in this module the error was created (`#fileID:#line`), for diagnostics.
    public var location: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: The error code.
    ///   - message: Detail text; must not contain secrets.
    ///   - isRetriable: Defaults to ``KafkaErrorCode/isTransient``.
    ///   - isFatal: Defaults to `code == .fatal`.
    public init(
        code: KafkaErrorCode,
        message: String,
        isRetriable: Bool? = nil,
        isFatal: Bool? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.isFatal = isFatal ?? (code == .fatal)
        self.isRetriable = (isRetriable ?? code.isTransient) && !self.isFatal
        self.location = "\(file):\(line)"
    }

    /// `"KafkaError(<NAME> (<code>)): <message>"` plus retriable/fatal flags.
    public var description: String {
        var flags = ""
        if self.isFatal { flags += " [fatal]" }
        if self.isRetriable { flags += " [retriable]" }
        return "KafkaError(\(self.code.name) (\(self.code.rawValue))): \(self.message)\(flags)"
    }
}

// MARK: - Factories

extension KafkaError {
    /// An error from a bare `rd_kafka_resp_err_t`, with librdkafka's text for it.
    static func rdKafka(
        _ err: rd_kafka_resp_err_t,
        context: String? = nil,
        file: String = #fileID,
        line: Int = #line
    ) -> KafkaError {
        let code = KafkaErrorCode(err)
        let text = String(cString: rd_kafka_err2str(err))
        return KafkaError(
            code: code,
            message: context.map { "\($0): \(text)" } ?? text,
            file: file,
            line: line
        )
    }

    /// Consumes (destroys) an `rd_kafka_error_t`, keeping its retriable/fatal classification.
    static func consuming(
        _ error: OpaquePointer,
        context: String? = nil,
        file: String = #fileID,
        line: Int = #line
    ) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        let code = KafkaErrorCode(rd_kafka_error_code(error))
        let text = rd_kafka_error_string(error).map { String(cString: $0) } ?? code.name
        let fatal = rd_kafka_error_is_fatal(error) != 0
        let retriable = rd_kafka_error_is_retriable(error) != 0 || code.isTransient
        return KafkaError(
            code: code,
            message: context.map { "\($0): \(text)" } ?? text,
            isRetriable: retriable,
            isFatal: fatal,
            file: file,
            line: line
        )
    }

    /// The handle was already closed.
    static func closed(_ what: String, file: String = #fileID, line: Int = #line) -> KafkaError {
        KafkaError(code: .state, message: "\(what) is closed", isRetriable: false, file: file, line: line)
    }
}
