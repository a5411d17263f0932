import Foundation
import LearningTestSupport
import Postgres
import Synchronization
import TestSupport
import Testing

@testable import Learning

@Suite struct LeadershipTests {
    @Test func aReleasedLeadershipCanBeTakenAtOnce() throws {
        let url = try TestPostgres.freshDatabase()
        let first = try PostgresConnection.connect(url, logger: testLogger)
        defer { first.close() }
        let second = try PostgresConnection.connect(url, logger: testLogger)
        defer { second.close() }
        let (a, b) = (LearnerLeadership(connection: first), LearnerLeadership(connection: second))
        #expect(try a.tryAcquire())
        #expect(try !b.tryAcquire())
        #expect(try a.release())
        #expect(try !a.isHeld())
        #expect(try b.tryAcquire())
        #expect(try !a.release(), "a session that does not hold the lock releases nothing")
        #expect(try b.isHeld())
    }

    @Test func twoLearnersHaveExactlyOneLeaderAndTheOtherTakesOverWhenItDies() throws {
        let url = try TestPostgres.freshDatabase()
        let first = try PostgresConnection.connect(url, logger: testLogger)
        let second = try PostgresConnection.connect(url, logger: testLogger)
        defer { second.close() }
        try second.execute("SELECT set_config('application_name', 'amc learn second', false)")
        try first.execute("SELECT set_config('application_name', 'amc learn first', false)")
        let a = LearnerLeadership(connection: first)
        let b = LearnerLeadership(connection: second)

        #expect(try a.tryAcquire())
        #expect(try !b.tryAcquire())
        #expect(try a.isHeld())
        #expect(try !b.isHeld())
        #expect(try b.holder()?.hasPrefix("amc learn first") == true)

        // The second learner waits; the leader's session dies; the second takes over.
        let tookOver = Mutex(false)
        let waiter = Thread {
            let acquired =
                (try? b.waitForLeadership(interval: .milliseconds(50), shouldStop: { false }, logger: testLogger))
            tookOver.withLock { $0 = acquired ?? false }
        }
        waiter.start()
        Thread.sleep(forTimeInterval: 0.3)
        #expect(!tookOver.withLock { $0 }, "no take-over while the leader lives")
        first.close()
        #expect(try eventually(timeout: .seconds(60)) { tookOver.withLock { $0 } })
        #expect(try b.isHeld())
    }

    @Test func aLearnerThatIsNotTheLeaderPublishesNothing() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let leader = try fixture.connect()
        defer { leader.close() }
        #expect(try LearnerLeadership(connection: leader).tryAcquire())
        let follower = try fixture.connect()
        defer { follower.close() }
        let learner = Learner(
            configuration: quickConfiguration(),
            connection: follower,
            worker: "f",
            logger: testLogger
        )
        #expect(throws: LearnerError.self) { try learner.bootstrap() }
        #expect(try follower.query("SELECT count(*) FROM model_versions")[0].decode(Int.self, column: 0) == 0)
    }
}
