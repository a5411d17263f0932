import Foundation
import Learning
import LearningTestSupport
import Postgres
import Registry
import TestSupport
import Testing

/// Online experiments in `online_experiments` (``ExperimentStore``): one running per kind, a start stops the running
/// one of its kind in the same transaction, candidates must exist and not be active, every change is announced.
@Suite struct ExperimentStoreTests {
    @Test func startingAnExperimentStopsTheRunningOneOfItsKindAndEveryChangeIsAnnounced() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        guard case .published(let first, true, _) = try learner.bootstrap(),
            case .published(let second, true, _) = try learner.bootstrap()
        else {
            Issue.record("bootstraps did not publish")
            return
        }
        // The second is active; the first is the candidate.
        let listener = try fixture.connect()
        defer { listener.close() }
        try listener.listen(ExperimentStore.changeChannel)
        let store = ExperimentStore(connection: connection)
        #expect(try store.running() == RunningExperiments())

        let shadow = try connection.transaction {
            try ExperimentStore(connection: $0).start(
                kind: .shadow,
                candidate: first,
                share: 0.25,
                actor: "alice",
                reason: "shadow drill"
            )
        }
        #expect(shadow.stopped == nil)
        #expect(shadow.experiment.kind == .shadow && shadow.experiment.candidateVersion == first)
        #expect(shadow.experiment.share == 0.25 && shadow.experiment.isRunning)
        #expect(shadow.experiment.startedBy == "alice" && shadow.experiment.reason == "shadow drill")
        let interleave = try connection.transaction {
            try ExperimentStore(connection: $0).start(
                kind: .interleave,
                candidate: first,
                share: 1,
                actor: "learner",
                reason: "promotion"
            )
        }
        // One of each kind runs side by side.
        #expect(try store.running() == RunningExperiments(shadow: shadow.experiment, interleave: interleave.experiment))

        // A second shadow experiment stops the first, in the same transaction, recorded with the new one's actor.
        let again = try connection.transaction {
            try ExperimentStore(connection: $0).start(
                kind: .shadow,
                candidate: first,
                share: 0.5,
                actor: "bob",
                reason: "more traffic"
            )
        }
        let replaced = try #require(again.stopped)
        #expect(replaced.id == shadow.experiment.id && !replaced.isRunning && replaced.stoppedBy == "bob")
        #expect(try store.running().shadow == again.experiment)
        #expect(try store.running().interleave == interleave.experiment)

        let stopped = try connection.transaction {
            try ExperimentStore(connection: $0).stop(kind: .interleave, actor: "carol", reason: "enough")
        }
        #expect(stopped?.id == interleave.experiment.id && stopped?.stopReason == "enough")
        #expect(try store.stop(kind: .interleave, actor: "carol", reason: "again") == nil)
        #expect(try store.running() == RunningExperiments(shadow: again.experiment))
        #expect(try store.experiments(candidate: first).map(\.id) == [shadow, interleave, again].map(\.experiment.id))
        #expect(try store.experiments(candidate: second).isEmpty)
        #expect(try store.experiment(again.experiment.id) == again.experiment)

        // Four changes, each announced at its commit.
        var notifications = 0
        #expect(
            try eventually(timeout: .seconds(60)) {
                notifications += try listener.waitForNotifications(timeout: .milliseconds(200)).count
                return notifications >= 4
            }
        )
    }

    @Test func anUnknownOrActiveCandidateAndABadShareAreRefusedAndNothingIsRecorded() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let (learner, connection) = try leadingLearner(fixture, quickConfiguration())
        defer { connection.close() }
        guard case .published(let active, true, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        func refusal(candidate: Int64, share: Double = 0.1) -> String {
            do {
                _ = try connection.transaction {
                    try ExperimentStore(connection: $0).start(
                        kind: .interleave,
                        candidate: candidate,
                        share: share,
                        actor: "alice",
                        reason: ""
                    )
                }
                return ""
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal(candidate: active + 10) == "model version \(active + 10) does not exist")
        #expect(refusal(candidate: active).contains("model version \(active) is the active version"))
        #expect(refusal(candidate: active, share: 0).contains("must be in (0, 1]"))
        #expect(refusal(candidate: active, share: 1.5).contains("must be in (0, 1]"))
        #expect(try connection.query("SELECT count(*) FROM online_experiments")[0].decode(Int.self, column: 0) == 0)
    }
}
