import Foundation
import Testing
import UserSimulation

/// How the users read a scorer's answer: the ranking in order and the ranking id their clicks carry back.
@Suite struct ScoringClientTests {
    @Test func aResponseGivesTheRankingInOrderWithItsRankingIDAndVersion() throws {
        let body = #"""
            {"model_version": 3, "ranking_id": "r-42", "unknown_images": [],
             "results": [{"image": "b", "score": 0.9}, {"image": "a", "score": 0.5}, {"image": "c", "score": 0.1}]}
            """#
        let ranking = try ScoringClient.ranking(status: 200, body: Data(body.utf8))
        #expect(ranking.images == ["b", "a", "c"])
        #expect(ranking.rankingID == "r-42")
        #expect(ranking.modelVersion == 3)
        let numbered = try ScoringClient.ranking(
            status: 200,
            body: Data(#"{"model_version": 1, "ranking_id": 17, "results": []}"#.utf8)
        )
        #expect(numbered.rankingID == "17" && numbered.images.isEmpty)
        let without = try ScoringClient.ranking(
            status: 200,
            body: Data(#"{"model_version": 1, "results": [{"image": "a"}]}"#.utf8)
        )
        #expect(without.rankingID == nil && without.images == ["a"])
    }

    @Test func anErrorOrAMalformedAnswerIsRefusedWithItsReason() {
        #expect(throws: UserSimulationError.self) {
            try ScoringClient.ranking(status: 503, body: Data(#"{"error": "no model loaded"}"#.utf8))
        }
        do {
            _ = try ScoringClient.ranking(status: 400, body: Data(#"{"error": "too many images"}"#.utf8))
            Issue.record("a 400 was taken for a ranking")
        } catch {
            #expect("\(error)" == "POST /v1/score answered 400: too many images")
        }
        #expect(throws: UserSimulationError.self) { try ScoringClient.ranking(status: 200, body: Data("[]".utf8)) }
        #expect(throws: UserSimulationError.self) {
            try ScoringClient.ranking(status: 200, body: Data(#"{"results": [{"score": 1}]}"#.utf8))
        }
    }
}
