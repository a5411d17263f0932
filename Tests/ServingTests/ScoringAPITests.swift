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

@Suite struct ScoringAPITests {
    @Test func notReadyBeforeAnyVersionExists() async throws {
        let fixture = try LearningFixture.serving()
        let app = ScoringAPI.buildApplication(
            configuration: testConfiguration(),
            databaseURL: fixture.url,
            logger: testLogger
        )
        try await app.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let json = try jsonObject(response.body)
                #expect(json["error"] is String)
            }
            try await client.execute(uri: "/v1/model", method: .get) { #expect($0.status == .serviceUnavailable) }
            let body = try jsonBody(["query": "kitten", "images": ["a"]])
            try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                #expect(response.status == .serviceUnavailable)
                let json = try jsonObject(response.body)
                #expect(json["error"] is String)
            }
        }
    }

    @Test func unknownPathsGetA404AndOtherMethodsA405WithAJSONError() async throws {
        let app = ScoringAPI.buildApplication(
            configuration: testConfiguration(),
            databaseURL: try TestPostgres.freshDatabase(),
            logger: testLogger
        )
        try await app.test(.router) { client in
            for uri in ["/", "/v1", "/v1/scores", "/v2/score", "/healthz/deep", "/HEALTHZ"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .notFound, "\(uri)")
                    #expect(response.headers[.contentType] == "application/json", "\(uri)")
                    let error = try jsonObject(response.body)["error"]
                    #expect(error is String, "\(uri)")
                }
            }
            let calls: [(String, HTTPRequest.Method, String)] = [
                ("/v1/score", .get, "POST"), ("/v1/score/", .put, "POST"), ("/v1/model", .post, "GET"),
                ("/healthz", .delete, "GET"), ("/readyz", .patch, "GET"), ("//metrics", .options, "GET"),
            ]
            for (uri, method, allowed) in calls {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .methodNotAllowed, "\(method) \(uri)")
                    #expect(response.headers[.allow] == allowed, "\(method) \(uri)")
                    #expect(response.headers[.contentType] == "application/json", "\(method) \(uri)")
                    let error = try jsonObject(response.body)["error"]
                    #expect(error is String, "\(method) \(uri)")
                }
            }
            // A HEAD answer has the status and headers but no body.
            try await client.execute(uri: "/v1/score", method: .head) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
                #expect(response.body.readableBytes == 0)
            }
        }
    }

    @Test func scoresKnownImagesBestFirstWithTheServedVersion() async throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: true)
        let holder = ModelHolder()
        let metrics = ServingMetrics()
        let app = ScoringAPI.buildApplication(
            configuration: testConfiguration(),
            databaseURL: fixture.url,
            holder: holder,
            metrics: metrics,
            logger: testLogger
        )
        // The expected scores, computed directly with the model and the raw catalog features.
        let model = try fixture.model(version)
        let connection = try fixture.connect()
        let table = ImageFeatureTable(
            images: try CatalogStore(connection: connection).allImages(),
            hashBuckets: model.configuration.hashBuckets
        )
        connection.close()
        let keys = Array(fixture.world.images.prefix(30).map(\.key))
        let query = fixture.world.trainingQueries[0].text
        let expected = model.score(
            query: QueryNormalizer.normalize(query),
            images: keys.map { table[$0]! }
        )

        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }

            let requested = ["no-such-image"] + keys + [keys[0], "also-missing", "no-such-image"]
            let body = try jsonBody(["query": "  " + query.uppercased() + " ", "images": requested])
            try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                #expect(response.status == .ok)
                #expect(response.headers[ScoringAPI.versionHeader] == String(version))
                let json = try jsonObject(response.body)
                #expect(json["model_version"] as? Int == Int(version))
                #expect(json["unknown_images"] as? [String] == ["no-such-image", "also-missing"])
                let results = try #require(json["results"] as? [[String: Any]])
                #expect(results.count == keys.count)
                var previous = Float.infinity
                for result in results {
                    let image = try #require(result["image"] as? String)
                    let score = Float(try #require(result["score"] as? Double))
                    let visual = Float(try #require(result["visual_weight"] as? Double))
                    let language = Float(try #require(result["language_weight"] as? Double))
                    let reference = expected[keys.firstIndex(of: image)!]
                    #expect(score == reference.score)
                    #expect(visual == reference.visualWeight)
                    #expect(abs(visual + language - 1) < 1e-6)
                    #expect(score <= previous)
                    previous = score
                }
            }

            let top = try jsonBody(["query": query, "images": keys, "top": 3])
            try await client.execute(uri: "/v1/score", method: .post, body: top) { response in
                let results = try #require(try jsonObject(response.body)["results"] as? [[String: Any]])
                let best = expected.sorted { $0.score > $1.score }.prefix(3).map { keys[$0.index] }
                #expect(results.map { $0["image"] as? String } == best)
            }

            try await client.execute(uri: "/v1/model", method: .get) { response in
                #expect(response.status == .ok)
                let json = try jsonObject(response.body)
                #expect(json["version"] as? Int == Int(version))
                #expect(json["architecture"] as? String == "amc")
                #expect((json["sha256"] as? String)?.count == 64)
                #expect(json["activated_at"] is String)
                #expect(json["loaded_at"] is String)
                #expect(json["catalog_images"] as? Int == fixture.world.images.count)
            }

            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("amc_serve_model_version \(version)"))
                #expect(text.contains(#"amc_serve_requests_total{route="/v1/score",status="200"} 2"#))
                #expect(text.contains("amc_serve_request_duration_seconds_bucket"))
                #expect(text.contains("amc_serve_model_swaps_total 1"))
                #expect(text.contains("amc_serve_model_load_refusals_total 0"))
            }
        }
    }

    @Test func equalScoresKeepTheInputOrderAndRepeatedKeysAreScoredOnce() async throws {
        let fixture = try LearningFixture.serving()
        // Two keys with identical features score identically.
        let connection = try fixture.connect()
        let original = try #require(
            try CatalogStore(connection: connection).images(keys: [fixture.world.images[3].key]).first
        )
        try CatalogStore(connection: connection).upsert(
            ["twin-a", "twin-b"].map {
                CatalogImage(
                    key: $0,
                    keywords: original.keywords,
                    regions: original.regions,
                    regionCount: original.regionCount,
                    regionDimension: original.regionDimension
                )
            }
        )
        connection.close()
        _ = try fixture.publish(seed: 1, activate: true)
        let holder = ModelHolder()
        let app = ScoringAPI.buildApplication(
            configuration: testConfiguration(),
            databaseURL: fixture.url,
            holder: holder,
            logger: testLogger
        )
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            for order in [["twin-a", "twin-b"], ["twin-b", "twin-a"]] {
                let body = try jsonBody(["query": "kitten", "images": order + [order[0]]])
                try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    let results = try #require(try jsonObject(response.body)["results"] as? [[String: Any]])
                    #expect(results.map { $0["image"] as? String } == order)
                    #expect(results[0]["score"] as? Double == results[1]["score"] as? Double)
                }
            }
        }
    }

    @Test func badRequestsGetA4xxWithAJSONError() async throws {
        let fixture = try LearningFixture.serving()
        _ = try fixture.publish(seed: 1, activate: true)
        var configuration = testConfiguration()
        configuration.maxBodyBytes = 4096
        configuration.maxQueryBytes = 64
        configuration.maxImages = 10
        let (holder, metrics, app) = scoringWorker(fixture, configuration)
        let tooMany = (0..<11).map { "image-\($0)" }
        let cases: [(String, ByteBuffer, HTTPResponse.Status)] = [
            ("malformed JSON", ByteBuffer(string: "{\"query\": "), .badRequest),
            ("not an object", ByteBuffer(string: "[1, 2]"), .badRequest),
            ("missing query", try jsonBody(["images": ["a"]]), .badRequest),
            ("missing images", try jsonBody(["query": "kitten"]), .badRequest),
            ("empty query", try jsonBody(["query": "", "images": ["a"]]), .badRequest),
            ("blank query", try jsonBody(["query": " \t ", "images": ["a"]]), .badRequest),
            (
                "query too long", try jsonBody(["query": String(repeating: "k", count: 65), "images": ["a"]]),
                .badRequest
            ),
            ("empty images", try jsonBody(["query": "kitten", "images": [String]()]), .badRequest),
            ("too many images", try jsonBody(["query": "kitten", "images": tooMany]), .badRequest),
            ("empty image key", try jsonBody(["query": "kitten", "images": [""]]), .badRequest),
            ("top zero", try jsonBody(["query": "kitten", "images": ["a"], "top": 0]), .badRequest),
            ("top negative", try jsonBody(["query": "kitten", "images": ["a"], "top": -2]), .badRequest),
            ("top fractional", try jsonBody(["query": "kitten", "images": ["a"], "top": 1.5]), .badRequest),
            ("query not a string", try jsonBody(["query": 5, "images": ["a"]]), .badRequest),
            ("images not an array", try jsonBody(["query": "kitten", "images": "a"]), .badRequest),
            ("image key not a string", try jsonBody(["query": "kitten", "images": [1]]), .badRequest),
            ("top not a number", try jsonBody(["query": "kitten", "images": ["a"], "top": "3"]), .badRequest),
            ("null query", try jsonBody(["query": NSNull(), "images": ["a"]]), .badRequest),
            (
                "body too large",
                try jsonBody(["query": "kitten", "images": [String(repeating: "x", count: 5000)]]),
                .contentTooLarge
            ),
        ]
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current() != nil })
            for (name, body, status) in cases {
                try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    #expect(response.status == status, "\(name)")
                    #expect(response.headers[.contentType] == "application/json", "\(name)")
                    let error = try jsonObject(response.body)["error"] as? String
                    #expect(error?.isEmpty == false, "\(name)")
                }
            }
            // The limits themselves are accepted.
            let atLimits = try jsonBody([
                "query": String(repeating: "k", count: 64), "images": Array(tooMany.prefix(10)), "top": 1,
            ])
            try await client.execute(uri: "/v1/score", method: .post, body: atLimits) { response in
                #expect(response.status == .ok)
                let decoded = try jsonObject(response.body)

                #expect(decoded["unknown_images"] as? [String] == Array(tooMany.prefix(10)))
            }
        }
        #expect(!metrics.render().contains(#"status="500""#))
    }
}
