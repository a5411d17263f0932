/// Connection settings shared by ``KafkaProducer`` and ``KafkaConsumer``.
///
/// Any librdkafka property passes through ``properties`` (TLS, SASL, timeouts, ...). Values of keys containing
/// `password`, `secret` or `sasl`, or starting with `ssl.key` (the private key), are never logged nor put into
/// error descriptions: its `description`, `debugDescription` and reflection (`dump`, `Mirror`) show them as
/// `<redacted>`, so a configuration or service that stores one can be logged or dumped whole.
public struct KafkaConfig: Sendable {
    /// Comma-separated `host:port` list.
    ///
    /// Key: `bootstrap.servers`. Default: none (required).
    public var bootstrapServers: String
    /// Client identifier sent to brokers.
    ///
    /// Key: `client.id`. Default: `"amc"`.
    public var clientID: String
    /// Extra librdkafka properties, applied last (so they override the wrapper's defaults).
    ///
    /// Default: empty.
    public var properties: [String: String]

    /// Creates a configuration.
    /// - Parameters:
    ///   - bootstrapServers: `bootstrap.servers`.
    ///   - clientID: `client.id`; default `"amc"`.
    ///   - properties: Extra librdkafka properties, applied after every default.
    public init(bootstrapServers: String, clientID: String = "amc", properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
    }
}

// MARK: - Redacted descriptions

extension KafkaConfig: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// What stands in for the value of a secret property wherever a configuration is shown.
    static let redactedValue = "<redacted>"

    /// ``properties`` with the value of every secret key (see the type's summary) replaced by `<redacted>`.
    public var redactedProperties: [String: String] {
        properties.reduce(into: [:]) { result, property in
            result[property.key] = Self.isSensitive(key: property.key) ? Self.redactedValue : property.value
        }
    }

    /// The configuration with secret property values redacted, properties sorted by key.
    public var description: String {
        let shown = redactedProperties.sorted { $0.key < $1.key }.map {
            "\($0.key.debugDescription): \($0.value.debugDescription)"
        }
        return "KafkaConfig(bootstrapServers: \(bootstrapServers.debugDescription), clientID: "
            + "\(clientID.debugDescription), properties: [\(shown.joined(separator: ", "))])"
    }

    /// ``description``.
    public var debugDescription: String { description }

    /// The fields, with ``redactedProperties`` in place of ``properties``: reflection never reaches a secret.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "bootstrapServers": bootstrapServers, "clientID": clientID, "properties": redactedProperties,
            ],
            displayStyle: .struct
        )
    }
}

// MARK: - Rendering

extension KafkaConfig {
    /// Whether the value of `key` must never be logged or shown.
    static func isSensitive(key: String) -> Bool {
        let lowered = key.lowercased()
        return lowered.contains("password") || lowered.contains("secret") || lowered.contains("sasl")
            || lowered.hasPrefix("ssl.key")
    }

    /// The full ordered property list: `defaults`, then connection settings, then ``properties`` (sorted by key so
    /// the result is deterministic).
    func librdkafkaProperties(defaults: [(String, String)]) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = defaults.map { (key: $0.0, value: $0.1) }
        result.append((key: "bootstrap.servers", value: self.bootstrapServers))
        result.append((key: "client.id", value: self.clientID))
        for key in self.properties.keys.sorted() {
            result.append((key: key, value: self.properties[key]!))
        }
        return result
    }
}
