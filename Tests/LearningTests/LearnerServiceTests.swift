import Foundation
import LearningTestSupport
import Postgres
import Registry
import Simulation
import TestSupport
import Testing

@testable import Learning

@Suite(.timeLimit(.minutes(6)))
struct LearnerServiceTests {
    @Test func aFollowingLearnerBootstrapsWhenNoVersionWasEverPublishedThenFineTunes() async throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.pollInterval = .milliseconds(200)
        configuration.gateTolerance = 1
        let service = LearnerService(
            configuration: configuration,
            databaseURL: fixture.url,
            mode: .follow(bootstrapFirst: false),
            worker: "test",
            logger: testLogger
        )
        let running = Task.detached { try service.runBlocking() }
        defer { service.requestStop() }
        let connection = try fixture.connect()
        defer { connection.close() }
        let registry = ModelRegistry(connection: connection)

        #expect(try await eventually { try registry.activeVersion() != nil })
        #expect(try registry.versions().map(\.kind) == [.bootstrap])
        // Once a version exists, new clicks are fine-tuned on, not bootstrapped again.
        try fixture.addClicks(fixture.world.clicks(shifted: true))
        #expect(try await eventually { try registry.versions().count == 2 })
        #expect(try registry.versions().map(\.kind) == [.bootstrap, .finetune])
        service.requestStop()
        try await running.value
    }
}

/// Polls `condition` every 100 ms for up to 60 s.
private func eventually(_ condition: () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}
