import Crdkafka
import Logging

/// Builds an `rd_kafka_conf_t` from an ordered property list.
enum RDKafkaConfig {
    /// Creates a configuration object with every property set, in order.
    ///
    /// - Returns: An owned `rd_kafka_conf_t *`; the caller must pass it to `rd_kafka_new` (which takes ownership on
    ///   success) or `rd_kafka_conf_destroy` it.
    /// - Throws: ``KafkaError`` with code ``KafkaErrorCode/invalidArgument`` naming the offending key. The value is
    ///   included only for keys that are not sensitive (see ``KafkaConfig``).
    static func make(properties: [(key: String, value: String)], logger: Logger) throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(code: .fail, message: "rd_kafka_conf_new returned NULL")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                let sensitive = KafkaConfig.isSensitive(key: key)
                let detail: String
                if sensitive {
                    // librdkafka's text may echo the value; never surface it for secrets.
                    detail = result == RD_KAFKA_CONF_UNKNOWN ? "unknown property" : "invalid value (redacted)"
                } else {
                    detail = Self.string(from: errstr)
                }
                throw KafkaError(
                    code: .invalidArgument,
                    message: "invalid librdkafka configuration property \"\(key)\": \(detail)",
                    isRetriable: false
                )
            }
            logger.trace(
                "Set librdkafka property",
                metadata: [
                    KafkaLoggingKeys.configKey: "\(key)",
                    KafkaLoggingKeys.configValue: "\(Self.loggable(key: key, value: value))",
                ]
            )
        }
        return conf
    }

    /// The value as it may appear in logs.
    static func loggable(key: String, value: String) -> String {
        KafkaConfig.isSensitive(key: key) ? "<redacted>" : value
    }

    /// Decodes a NUL-terminated C buffer.
    static func string(from buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

extension Duration {
    /// The duration in whole milliseconds, clamped to `0...Int32.max` (librdkafka's `int timeout_ms`).
    var rdKafkaTimeoutMilliseconds: Int32 {
        let (seconds, attoseconds) = self.components
        if seconds < 0 { return 0 }
        let millis = seconds.multipliedReportingOverflow(by: 1000)
        if millis.overflow { return Int32.max }
        let total = millis.partialValue + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: total)
    }
}
