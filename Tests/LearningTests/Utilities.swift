import LearningTestSupport
import Postgres
import TestSupport
import Testing

@testable import Learning

/// A learner on its own session that holds leadership.
func leadingLearner(
    _ fixture: LearningFixture,
    _ configuration: LearnerConfiguration
) throws -> (
    Learner, PostgresConnection
) {
    let connection = try fixture.connect()
    #expect(try LearnerLeadership(connection: connection).tryAcquire())
    return (
        Learner(configuration: configuration, connection: connection, worker: "test", logger: testLogger), connection
    )
}
