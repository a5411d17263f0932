/// Metadata keys used in this module's log statements.
enum KafkaLoggingKeys {
    static let clientID = "kafka.client.id"
    static let clientName = "kafka.client.name"
    static let groupID = "kafka.group.id"
    static let topics = "kafka.topics"
    static let topicPartition = "kafka.topic.partition"
    static let partitions = "kafka.partitions"
    static let errorCode = "kafka.error.code"
    static let facility = "kafka.log.facility"
    static let level = "kafka.log.level"
    static let configKey = "kafka.config.key"
    static let configValue = "kafka.config.value"
    static let outstanding = "kafka.producer.outstanding"
}
