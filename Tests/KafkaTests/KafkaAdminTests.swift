import Foundation
import Kafka
import Testing

import enum TestSupport.BrokerKind
import class TestSupport.TestBroker

/// Topic creation through the admin API: on a real broker (noida-db) with the partitions asked for, and refused by
/// librdkafka's mock cluster, which has no CreateTopics handler and names no controller (it has its own call).
@Suite(.timeLimit(.minutes(3)))
struct KafkaAdminTests {
    /// The noida-db broker the test command started (`AMC_TEST_NOIDA_BROKERS`), shared by tests that neither stop it
    /// nor reuse a topic name.
    static var sharedNoida: String? {
        ProcessInfo.processInfo.environment["AMC_TEST_NOIDA_BROKERS"].flatMap { $0.isEmpty ? nil : $0 }
    }

    static var runsOnNoida: Bool { sharedNoida != nil || ProcessInfo.processInfo.environment["CI"] != nil }

    @Test(.enabled(if: runsOnNoida, "needs noida-db (AMC_TEST_NOIDA_BROKERS, set by Deploy/local/test.sh)"))
    func onNoidaDBATopicIsCreatedWithItsPartitionsAndASecondCreateFindsItExisting() async throws {
        let brokers = try #require(Self.sharedNoida, "the test command sets AMC_TEST_NOIDA_BROKERS")
        let topic = "admin-\(UUID().uuidString.prefix(8))"
        let admin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: brokers), logger: TestSupport.makeLogger())
        let (created, partitions, again) = try await TestSupport.blocking {
            let created = try admin.createTopic(topic, partitions: 5, config: ["retention.ms": "-1"])
            return (created, try admin.partitionCount(of: topic), try admin.createTopic(topic, partitions: 5))
        }
        #expect(created)
        #expect(partitions == 5)
        #expect(!again, "the second create finds the topic existing")
    }

    @Test func onTheMockClusterCreateTopicsTimesOutWaitingForAController() async throws {
        let cluster = try MockKafkaCluster(brokers: 1, logger: TestSupport.makeLogger())
        let admin = try KafkaAdmin(
            config: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
            logger: TestSupport.makeLogger()
        )
        let error = await #expect(throws: KafkaError.self) {
            try await TestSupport.blocking { try admin.createTopic("clicks", partitions: 3, timeout: .seconds(3)) }
        }
        #expect(error?.code == .timedOut, "\(String(describing: error))")
        #expect(error?.message.contains("controller") == true, "\(String(describing: error))")
    }

    @Test(arguments: BrokerKind.available)
    func aTestBrokersTopicHasThePartitionsAskedFor(kind: BrokerKind) async throws {
        let broker = try TestBroker(kind)
        try broker.createTopic("clicks", partitions: 4)
        let admin = try KafkaAdmin(
            config: KafkaConfig(bootstrapServers: broker.bootstrapServers),
            logger: TestSupport.makeLogger()
        )
        #expect(try await TestSupport.blocking { try admin.partitionCount(of: "clicks") } == 4)
    }
}
