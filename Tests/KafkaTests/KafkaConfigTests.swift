import InMemoryLogging
import Logging
import Testing

@testable import Kafka

@Suite struct KafkaConfigTests {
    @Test func unknownPropertyMakesProducerInitThrow() throws {
        let config = KafkaConfig(bootstrapServers: "127.0.0.1:1", properties: ["no.such.property": "1"])
        let error = try #require(throws: KafkaError.self) {
            try KafkaProducer(config: config, logger: TestSupport.makeLogger())
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("no.such.property"))
        #expect(!error.isRetriable)
        #expect(error.description.contains("no.such.property"))
    }

    @Test func invalidValueMakesConsumerInitThrow() throws {
        let config = KafkaConfig(bootstrapServers: "127.0.0.1:1", properties: ["session.timeout.ms": "soon"])
        let error = try #require(throws: KafkaError.self) {
            try KafkaConsumer(
                config: config,
                groupID: "g",
                topics: ["t"],
                logger: TestSupport.makeLogger(),
                onAssign: { _ in [:] },
                onRevoke: { _ in }
            )
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("session.timeout.ms"))
    }

    @Test func validPropertiesPassThrough() throws {
        let config = KafkaConfig(
            bootstrapServers: "127.0.0.1:1",
            clientID: "custom",
            properties: ["linger.ms": "0", "compression.type": "lz4", "enable.idempotence": "false"]
        )
        _ = try KafkaProducer(config: config, logger: TestSupport.makeLogger())
    }

    @Test func sensitiveValuesNeverReachErrorsOrLogs() throws {
        let handler = InMemoryLogHandler()
        var logger = TestSupport.makeLogger(handler)
        logger.logLevel = .trace
        let secret = "hunter2-do-not-print"
        let config = KafkaConfig(
            bootstrapServers: "127.0.0.1:1",
            properties: ["sasl.username": "user", "sasl.password": secret, "sasl.password.typo": secret]
        )
        let error = try #require(throws: KafkaError.self) { try KafkaProducer(config: config, logger: logger) }
        #expect(error.message.contains("sasl.password.typo"))
        #expect(!error.description.contains(secret))
        #expect(!handler.entries.isEmpty)
        #expect(!handler.entries.contains { "\($0.message) \($0.metadata)".contains(secret) })
    }

    @Test func librdkafkaPropertiesAreOrderedDefaultsThenConnectionThenOverrides() {
        let config = KafkaConfig(bootstrapServers: "b:9092", properties: ["z": "1", "acks": "1"])
        let properties = config.librdkafkaProperties(defaults: [("acks", "all")])
        #expect(properties.map(\.key) == ["acks", "bootstrap.servers", "client.id", "acks", "z"])
        #expect(properties.last { $0.key == "acks" }?.value == "1")
        #expect(properties.first { $0.key == "client.id" }?.value == "amc")
    }

    @Test func errorCodesAndClassification() {
        #expect(KafkaErrorCode.partitionEOF.rawValue == -191)
        #expect(KafkaErrorCode.offsetOutOfRange.rawValue == 1)
        #expect(KafkaErrorCode.allBrokersDown.name == "_ALL_BROKERS_DOWN")
        #expect(KafkaError(code: .transport, message: "x").isRetriable)
        #expect(KafkaError(code: .notLeaderForPartition, message: "x").isRetriable)
        #expect(!KafkaError(code: .offsetOutOfRange, message: "x").isRetriable)
        let fatal = KafkaError(code: .fatal, message: "x")
        #expect(fatal.isFatal && !fatal.isRetriable)
        #expect(KafkaErrorCode(rawValue: 12345).rawValue == 12345)  // unknown codes round-trip
    }

    @Test func durationToMilliseconds() {
        #expect(Duration.milliseconds(1500).rdKafkaTimeoutMilliseconds == 1500)
        #expect(Duration.seconds(-1).rdKafkaTimeoutMilliseconds == 0)
        #expect(Duration.seconds(Int64.max).rdKafkaTimeoutMilliseconds == Int32.max)
    }
}

/// ``KafkaConfig`` shows secret properties as `<redacted>`, however it is printed or reflected.
@Suite struct KafkaConfigRedactionTests {
    static let secrets = [
        "sasl.password": "sasl-Secret-1", "sasl.oauthbearer.client.secret": "oauth-Secret-2",
        "ssl.key.password": "key-Secret-3", "ssl.key.pem": "-----BEGIN PRIVATE KEY-----pem-Secret-4",
        "sasl.jaas.config": "jaas-Secret-5",
    ]

    /// A configuration holding a Kafka configuration, as services do.
    struct Holder {
        var kafka: KafkaConfig
    }

    @Test func descriptionsAndReflectionNeverShowASecretProperty() {
        var properties = Self.secrets
        properties["security.protocol"] = "SASL_SSL"
        let config = KafkaConfig(bootstrapServers: "kafka-1:9092", properties: properties)
        var dumped = ""
        dump(Holder(kafka: config), to: &dumped)
        let mirrored = Mirror(reflecting: config).children.map { "\($0.label ?? ""): \($0.value)" }.joined()
        let renderings = [
            String(describing: config), String(reflecting: config), "\(config)", dumped, mirrored,
            String(describing: Holder(kafka: config)), String(reflecting: Holder(kafka: config)),
        ]
        for rendering in renderings {
            for secret in Self.secrets.values {
                #expect(!rendering.contains(secret), "\(rendering)")
            }
            #expect(rendering.contains("SASL_SSL"), "non-secret properties stay visible: \(rendering)")
            #expect(rendering.contains("kafka-1:9092"))
        }
        #expect(config.redactedProperties["sasl.password"] == "<redacted>")
        #expect(config.properties["sasl.password"] == "sasl-Secret-1", "librdkafka still gets the value")
    }
}
