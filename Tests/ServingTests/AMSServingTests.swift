import Foundation
import Hummingbird
import HummingbirdTesting
import LearningTestSupport
import Model
import Serving
import Simulation
import Testing

@Suite struct AMSServingTests {
    /// A worker serving an AMS version answers with and without `"explain": true` alike (ranking, scores and the
    /// modality weights, which for AMS are the visual scales' and the keyword scale's shares), and the explanation
    /// names AMS's scale weights.
    @Test func explainedResultsCarryTheScoresAndModalityWeightsOfThePlainOnes() async throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: true, architecture: AMSModel.architecture)
        #expect(try fixture.scoringModel(version).architecture == "ams")
        let (holder, _, app) = scoringWorker(fixture, testConfiguration())
        let keys = Array(fixture.world.images.prefix(12).map(\.key))
        let query = fixture.world.trainingQueries[0].text

        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            let plain = try await results(client, ["query": query, "images": keys])
            let explained = try await results(client, ["query": query, "images": keys, "explain": true])
            #expect(explained.count == keys.count)
            #expect(explained.map { $0["image"] as? String } == plain.map { $0["image"] as? String })
            #expect(explained.map { $0["score"] as? Double } == plain.map { $0["score"] as? Double })
            #expect(explained.map { $0["visual_weight"] as? Double } == plain.map { $0["visual_weight"] as? Double })
            #expect(
                explained.map { $0["language_weight"] as? Double } == plain.map { $0["language_weight"] as? Double }
            )
            for result in explained {
                let explanation = try #require(result["explanation"] as? [String: Any])
                #expect(explanation["architecture"] as? String == "ams")
                let mixing = try #require(explanation["mixing_weights"] as? [String: Double])
                #expect(mixing.keys.sorted() == ["global", "grid2x2", "keywords", "regions"])
                #expect(abs(mixing.values.reduce(0, +) - 1) < 1e-5)
                let language = try #require(result["language_weight"] as? Double)
                #expect(abs(try #require(mixing["keywords"]) - language) < 1e-6)
            }
        }
    }

    private func results(_ client: some TestClientProtocol, _ body: [String: Any]) async throws -> [[String: Any]] {
        try await client.execute(uri: "/v1/score", method: .post, body: try jsonBody(body)) { response in
            #expect(response.status == .ok)
            return try #require(try jsonObject(response.body)["results"] as? [[String: Any]])
        }
    }
}
