import Learning
import LearningTestSupport
import Postgres
import Registry
import Simulation
import TestSupport
import Testing

@testable import Provenance

@Suite struct ProvenanceTests {
    @Test func aPairIsTracedToItsEventsAndToExactlyTheVersionsWhoseWindowHeldThem() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let configuration = quickConfiguration()
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let first, _, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        let isTrained = { (query: String) in !TrainingData.isHeldOut(query, percent: configuration.holdoutPercent) }
        let queries = fixture.world.trainingQueries.map(\.text)
        let old = try #require(
            try PairStore(connection: connection).readAll().pairs.first { isTrained($0.query) }
        )
        let newQuery = try #require(queries.first { isTrained($0) && $0 != old.query })
        let newImage = fixture.world.images[1].key
        try fixture.addPairs([(newQuery, newImage, 4)])
        guard case .published(let second, _, _) = try learner.fineTune() else {
            Issue.record("fine-tuning did not publish")
            return
        }
        #expect(try ModelRegistry(connection: connection).previousVersion() == first)

        let store = ProvenanceStore(connection: connection)
        let before = try store.pair(query: old.query, image: old.image)
        #expect(before.trainedBy == [first], "only the bootstrap saw the old pair's events")
        #expect(before.events.count == 1)
        #expect(before.events.last?.clicksSoFar == before.clicks)
        #expect(!before.heldOut)

        let added = try store.pair(query: newQuery, image: newImage)
        #expect(added.trainedBy == [second], "only the fine-tuned version's window held the new event")
        #expect(added.events.map(\.clicks) == [4])
        #expect(added.events.first?.gradeSoFar == 2)
        #expect(added.activeVersion == second)
        let visual = try #require(added.visualWeight)
        let language = try #require(added.languageWeight)
        #expect(abs(visual + language - 1) < 1e-6)
        #expect(added.score != nil)

        let heldOutQuery = try #require(queries.first { !isTrained($0) })
        try fixture.addPairs([(heldOutQuery, newImage, 2)])
        let heldOut = try store.pair(query: heldOutQuery, image: newImage)
        #expect(heldOut.heldOut)
        #expect(heldOut.trainedBy.isEmpty)

        let missing = try store.pair(query: "no such query", image: newImage)
        #expect(missing.clicks == nil && missing.events.isEmpty)
    }
}
