import Testing

@testable import Postgres

@Suite struct NotificationTests {
    @Test func listenNotifyBetweenTwoConnections() async throws {
        try await withTestDatabase { url in
            try await offPool {
                let listener = try PostgresConnection.connect(url, logger: testLogger)
                let notifier = try PostgresConnection.connect(url, logger: testLogger)
                defer {
                    listener.close()
                    notifier.close()
                }
                let channel = "Model \"Updates\"; DROP"
                try listener.listen(channel)
                #expect(try listener.waitForNotifications(timeout: .milliseconds(50)).isEmpty)

                try notifier.notify(channel, payload: "version ünï 42")
                try notifier.notify("other", payload: "ignored")
                var received = [PostgresNotification]()
                let deadline = ContinuousClock.now + .seconds(60)
                while received.isEmpty, ContinuousClock.now < deadline {
                    received += try listener.waitForNotifications(timeout: .seconds(1))
                }
                #expect(received.map(\.channel) == [channel])
                #expect(received.first?.payload == "version ünï 42")
                #expect(received.first?.backendPID ?? 0 > 0)

                // Notifications sent inside a transaction arrive only at commit.
                try notifier.transaction { connection in
                    try connection.notify(channel, payload: "a")
                    try connection.notify(channel, payload: "b")
                    #expect(try listener.waitForNotifications(timeout: .milliseconds(100)).isEmpty)
                }
                var batch = [PostgresNotification]()
                while batch.count < 2, ContinuousClock.now < deadline + .seconds(60) {
                    batch += try listener.waitForNotifications(timeout: .seconds(1))
                }
                #expect(batch.map(\.payload) == ["a", "b"])
            }
        }
    }
}
