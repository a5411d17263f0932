import Catalog
import ClickLog
import Foundation
import Hummingbird
import HummingbirdTesting
import Learning
import LearningTestSupport
import Model
import Postgres
import Serving
import Simulation
import TestSupport
import Testing

@Suite struct ExplanationAPITests {
    /// A catalog image with more keywords than an explanation lists and a region count that is no square.
    private static let wide = CatalogImage(
        key: "wide-image",
        keywords: (1...14).map { "tag\($0)" } + ["kitten"],
        regions: (0..<(6 * 8)).map { Float(($0 * 7) % 11) / 11 - 0.5 },
        regionCount: 6,
        regionDimension: 8
    )

    @Test func explainTrueAddsTheModelsExplanationToEveryResult() async throws {
        let fixture = try LearningFixture.serving()
        let connection = try fixture.connect()
        try CatalogStore(connection: connection).upsert([Self.wide])
        let catalog = try CatalogStore(connection: connection).allImages()
        connection.close()
        let version = try fixture.publish(seed: 1, activate: true)
        let model = try fixture.model(version)
        let (holder, _, app) = scoringWorker(fixture, testConfiguration())
        let keys = Array(fixture.world.images.prefix(12).map(\.key)) + [Self.wide.key]
        let query = fixture.world.trainingQueries[0].text

        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            let plain = try await results(client, ["query": query, "images": keys])
            let explained = try await results(client, ["query": query, "images": keys, "explain": true])
            #expect(explained.count == keys.count)
            // The same ranking, scores and weights as without the flag.
            #expect(explained.map { $0["image"] as? String } == plain.map { $0["image"] as? String })
            #expect(explained.map { $0["score"] as? Double } == plain.map { $0["score"] as? Double })
            #expect(explained.map { $0["visual_weight"] as? Double } == plain.map { $0["visual_weight"] as? Double })

            let encodedQuery = model.encodeQuery(QueryNormalizer.normalize(query))
            for result in explained {
                let key = try #require(result["image"] as? String)
                let image = try #require(catalog.first { $0.key == key })
                let explanation = try #require(result["explanation"] as? [String: Any], "\(key)")
                #expect(
                    Set(explanation.keys)
                        == ["architecture", "mixing_weights", "region_attention", "keyword_attention", "keyword_count"]
                )
                // The model's own explanation, computed directly from the raw catalog features.
                let expected = model.explain(
                    query: encodedQuery,
                    image: ImageFeatures(
                        regions: image.regions,
                        regionCount: image.regionCount,
                        keywords: model.keywordInputs(image.keywords)
                    )
                )
                #expect(Float(try #require(result["score"] as? Double)) == expected.score)
                #expect(explanation["architecture"] as? String == "amc")
                let mixing = try #require(explanation["mixing_weights"] as? [String: Double])
                #expect(mixing.keys.sorted() == ["language", "visual"])
                #expect(mixing["visual"] == result["visual_weight"] as? Double)
                #expect(mixing["language"] == result["language_weight"] as? Double)

                let region = try #require(explanation["region_attention"] as? [String: Any])
                let grid = try #require(expected.regionAttention)
                #expect(region["rows"] as? Int == grid.rows && region["columns"] as? Int == grid.columns)
                let alpha = try #require(region["weights"] as? [Double]).map(Float.init)
                #expect(alpha == grid.weights)
                #expect(abs(alpha.reduce(0, +) - 1) < 1e-5)

                let keywords = try #require(explanation["keyword_attention"] as? [[String: Any]])
                #expect(explanation["keyword_count"] as? Int == image.keywords.count)
                #expect(keywords.count == min(10, image.keywords.count))
                for (item, wanted) in zip(keywords, expected.keywordAttention) {
                    #expect(item["keyword"] as? String == image.keywords[wanted.index])
                    #expect((item["weight"] as? Double).map(Float.init) == wanted.weight)
                }
                if key == Self.wide.key {
                    #expect(region["rows"] as? Int == 1 && region["columns"] as? Int == 6)
                    #expect(keywords.count == 10 && explanation["keyword_count"] as? Int == 15)
                } else {
                    #expect(region["rows"] as? Int == 2 && region["columns"] as? Int == 2)
                }
            }

            // With `top`, only the kept results, each explained.
            let top = try await results(client, ["query": query, "images": keys, "explain": true, "top": 2])
            #expect(top.map { $0["image"] as? String } == plain.prefix(2).map { $0["image"] as? String })
            #expect(top.allSatisfy { $0["explanation"] is [String: Any] })

            // `amc explain`'s body is the worker's, byte for byte, given the worker's ranking id (it has none itself).
            let image = try #require(catalog.first { $0.key == keys[0] })
            let body = try jsonBody(["query": query, "images": [keys[0]], "explain": true])
            try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                let rankingID = try #require(try jsonObject(response.body)["ranking_id"] as? String)
                let local = try ScoringAPI.explain(
                    model: model,
                    modelVersion: version,
                    query: query,
                    image: image,
                    rankingID: rankingID
                )
                #expect(Array(response.body.readableBytesView) == local.body)
                let plain = try ScoringAPI.explain(model: model, modelVersion: version, query: query, image: image)
                #expect(try JSONSerialization.jsonObject(with: Data(plain.body)) as? [String: Any] != nil)
                #expect(!String(decoding: plain.body, as: UTF8.self).contains("ranking_id"))
            }
        }
    }

    @Test func withoutTheFlagResponsesAreUnchanged() async throws {
        let fixture = try LearningFixture.serving()
        _ = try fixture.publish(seed: 1, activate: true)
        let (holder, _, app) = scoringWorker(fixture, testConfiguration())
        let keys = Array(fixture.world.images.prefix(5).map(\.key)) + ["missing"]
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            var bodies: [[UInt8]] = []
            for extra in [[:], ["explain": false], ["explain": NSNull()]] as [[String: Any]] {
                let body = try jsonBody(["query": "kitten", "images": keys].merging(extra) { $1 })
                try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    #expect(response.status == .ok)
                    // Every response has its own ranking id; the rest is the same.
                    var decoded = try jsonObject(response.body)
                    #expect(decoded.removeValue(forKey: "ranking_id") is String)
                    bodies.append(Array(try JSONSerialization.data(withJSONObject: decoded, options: [.sortedKeys])))
                    let results = try #require(try jsonObject(response.body)["results"] as? [[String: Any]])
                    for result in results {
                        #expect(Set(result.keys) == ["image", "score", "visual_weight", "language_weight"])
                    }
                }
            }
            #expect(bodies.count == 3 && bodies.allSatisfy { $0 == bodies[0] })
        }
    }

    @Test func aNonBooleanExplainIsABadRequest() async throws {
        let fixture = try LearningFixture.serving()
        _ = try fixture.publish(seed: 1, activate: true)
        let (holder, _, app) = scoringWorker(fixture, testConfiguration())
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            let raw = [#""true""#, "1", "0", "[]", "{}", #""yes""#]
            for value in raw {
                let body = ByteBuffer(string: #"{"query": "kitten", "images": ["a"], "explain": \#(value)}"#)
                try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    #expect(response.status == .badRequest, "\(value)")
                    let error = try #require(try jsonObject(response.body)["error"] as? String)
                    #expect(error.hasPrefix("field 'explain' must be a boolean"), "\(error)")
                }
            }
            let twice = ByteBuffer(string: #"{"query": "kitten", "images": ["a"], "explain": true, "explain": true}"#)
            try await client.execute(uri: "/v1/score", method: .post, body: twice) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    /// The results of one `POST /v1/score`, which must answer 200.
    private func results(_ client: some TestClientProtocol, _ body: [String: Any]) async throws -> [[String: Any]] {
        try await client.execute(uri: "/v1/score", method: .post, body: try jsonBody(body)) { response in
            #expect(response.status == .ok)
            return try #require(try jsonObject(response.body)["results"] as? [[String: Any]])
        }
    }
}
