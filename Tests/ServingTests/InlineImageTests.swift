import Catalog
import Foundation
import Hummingbird
import HummingbirdTesting
import LearningTestSupport
import Model
import Postgres
import Registry
import Simulation
import Testing

@testable import Serving

/// `POST /v1/score` with `inline_images`: images given in the catalog line form, validated as `amc catalog import`
/// validates a line, encoded for the request only and ranked with the catalog's images.
@Suite struct InlineImageTests {
    /// An image sent inline gets, bit for bit, the score and modality weights the same features get when imported,
    /// in both encodings: the inline image is encoded by the served model and stored at the catalog's precision
    /// (float16 rounds it exactly as it rounds the imported image), so float16 is bit-identical too, not merely
    /// within the compact bound. Both region forms are used (`regions` as decimals, `regions_b64`); the catalog does
    /// not grow.
    @Test(arguments: [EncodingPrecision.float32, .float16])
    func inlineFeaturesScoreExactlyAsTheSameImageImported(precision: EncodingPrecision) async throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: true)
        var configuration = testConfiguration()
        configuration.catalogEncoding = precision
        let (holder, _, app) = scoringWorker(fixture, configuration)
        let imported = Array(try Self.catalogImages(fixture).prefix(16))
        let inline = imported.enumerated().map { index, image in
            Self.line(image, key: "upload-\(image.key)", base64: index.isMultiple(of: 2))
        }
        let query = fixture.world.trainingQueries[1].text
        let catalogBody = try jsonBody(["query": query, "images": imported.map(\.key)])
        let inlineBody = try jsonBody(["query": query, "images": [String](), "inline_images": inline])
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == version })
            let catalogAnswer = try await Self.score(client, catalogBody)
            let inlineAnswer = try await Self.score(client, inlineBody)
            #expect(inlineAnswer.unknown.isEmpty)
            #expect(inlineAnswer.results.count == imported.count)
            #expect(inlineAnswer.results == catalogAnswer.results.map { "upload-" + $0 })
            #expect(holder.current()?.catalogImages == fixture.world.images.count)
            #expect(holder.current()?.catalog["upload-\(imported[0].key)"] == nil)
        }
    }

    /// Catalog keys and inline images in one request are ranked together: an inline key that is also a catalog key
    /// is scored with the inline features (the request's position kept), the other inline images follow, unknown
    /// keys are listed, and the recorded ranking holds the inline keys like any other.
    @Test func inlineAndCatalogImagesAreRankedTogetherAndTheInlineFeaturesWin() async throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: true)
        let (holder, _, app) = scoringWorker(fixture, testConfiguration())
        let images = try Self.catalogImages(fixture)
        let catalogKeys = Array(images.prefix(6).map(\.key))
        let upload = try #require(images.dropFirst(11).first { !$0.keywords.isEmpty })
        // The first catalog key sent inline with the features of image 10; a new upload with those of a later image.
        let inline = [
            Self.line(images[10], key: catalogKeys[0], base64: true),
            Self.line(upload, key: "new-upload", base64: false),
        ]
        let query = fixture.world.trainingQueries[2].text
        let mixedBody = try jsonBody(
            ["query": query, "images": catalogKeys + ["no-such-image"], "inline_images": inline]
        )
        let explainedBody = try jsonBody(
            ["query": query, "images": [String](), "inline_images": [inline[1]], "explain": true]
        )
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == version })
            let answer = try await Self.score(client, mixedBody)
            #expect(answer.unknown == ["no-such-image"])
            // The same candidates in the same order, imported.
            let reference = try await Self.score(
                client,
                try jsonBody(["query": query, "images": [images[10].key] + catalogKeys.dropFirst() + [upload.key]])
            )
            let renamed = [images[10].key: catalogKeys[0], upload.key: "new-upload"]
            let expected = reference.results.map { entry in
                let key = String(entry.prefix { $0 != " " })
                return renamed[key].map { $0 + entry.dropFirst(key.count) } ?? entry
            }
            #expect(answer.results == expected)
            let connection = try fixture.connect()
            defer { connection.close() }
            #expect(
                try await eventually(within: .seconds(30)) {
                    let rows = try connection.query(
                        "SELECT images FROM rankings WHERE id = \(answer.rankingID)::uuid"
                    )
                    return try rows.first?.decode([String].self, column: 0)
                        == answer.results.map { String($0.prefix { $0 != " " }) }
                }
            )
            // An explanation names the inline image's keywords.
            let explained = try await client.execute(uri: "/v1/score", method: .post, body: explainedBody)
            #expect(explained.status == .ok)
            let result = try #require((try jsonObject(explained.body)["results"] as? [[String: Any]])?.first)
            #expect(result["image"] as? String == "new-upload")
            let explanation = try #require(result["explanation"] as? [String: Any])
            let named = (explanation["keyword_attention"] as? [[String: Any]] ?? []).compactMap {
                $0["keyword"] as? String
            }
            #expect(!named.isEmpty && Set(named).isSubset(of: upload.keywords))
        }
    }

    /// Bad inline images get a 400 whose message names the item, the import's reason code and the field: each
    /// catalog-line problem, a repeated key, a region dimension other than the model's, and the image limit counted
    /// over both lists.
    @Test func badInlineImagesGetA400NamingTheItemAndTheField() async throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: true)
        var configuration = testConfiguration()
        configuration.maxImages = 3
        let (holder, _, app) = scoringWorker(fixture, configuration)
        let image = try #require(try Self.catalogImages(fixture).first)
        let good = Self.line(image, key: "fine", base64: true)
        let dimension = image.regionDimension
        let none = [String]()
        let wide = [Double](repeating: 1, count: dimension + 1)
        let cases: [(inline: Any, images: [String], message: String)] = [
            ("not an array", ["k"], "field 'inline_images' must be an array of objects"),
            ([good, 5] as [Any], ["k"], "field 'inline_images[1]' must be an object"),
            (
                [["keywords": none, "regions": [[1]]] as [String: Any]], [],
                "inline_images[0]: missing_field: missing field 'image'"
            ),
            (
                [["image": "a b", "keywords": none, "regions": [[1]]] as [String: Any]], [],
                "inline_images[0]: invalid_key: field 'image'"
            ),
            (
                [["image": "x", "regions": [[1]]] as [String: Any]], [],
                "inline_images[0]: missing_field: missing field 'keywords'"
            ),
            (
                [good, ["image": "r", "keywords": none, "regions": [[1, 2], [3]]] as [String: Any]], [],
                "inline_images[1]: shape_mismatch"
            ),
            (
                [["image": "n", "keywords": none, "regions_b64": "AADAfw==", "shape": [1, 1]] as [String: Any]], [],
                "inline_images[0]: non_finite: regions_b64 value 0"
            ),
            ([good, good], [], "inline_images[1]: field 'image' \"fine\" is given twice"),
            (
                [["image": "d", "keywords": none, "regions": [wide]] as [String: Any]], [],
                "inline_images[0]: dimension_mismatch: field 'regions' has D = \(dimension + 1); "
                    + "the served model's region dimension is \(dimension)"
            ),
            ([good], ["a", "b", "c"], "too many images: at most 3 per request, images and inline_images together"),
            ([Any](), [], "images must not be empty (unless inline_images is not)"),
        ]
        let requests = try cases.map { inline, images, message in
            (body: try jsonBody(["query": "a dog", "images": images, "inline_images": inline]), message: message)
        }
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == version })
            for (body, message) in requests {
                try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
                    #expect(response.status == .badRequest, "\(message)")
                    let error = try #require(try jsonObject(response.body)["error"] as? String)
                    #expect(error.hasPrefix(message), "\(error)")
                }
            }
            // `null` is no inline images.
            let body = try jsonBody(["query": "a dog", "images": [image.key], "inline_images": NSNull()])
            try await client.execute(uri: "/v1/score", method: .post, body: body) { #expect($0.status == .ok) }
        }
    }

    /// Under interleaving each version encodes the inline images with its own model: every merged position holds
    /// its team's best image not placed before, with the score that version gives the same features imported, and
    /// the ranking is recorded with its teams and the inline keys.
    @Test func interleavingEncodesInlineImagesWithEachVersionsOwnModel() async throws {
        let fixture = try LearningFixture.serving()
        let candidate = try fixture.publish(seed: 1, activate: false)
        let active = try fixture.publish(seed: 2, activate: true)
        let (holder, _, app) = scoringWorker(fixture, testConfiguration())
        let images = Array(try Self.catalogImages(fixture).prefix(10))
        let inline = images.map { Self.line($0, key: "upload-\($0.key)", base64: true) }
        let query = fixture.world.trainingQueries[0].text
        let inlineBody = try jsonBody(["query": query, "images": [String](), "inline_images": inline, "top": 6])
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == active })
            let experiment = try fixture.startExperiment(.interleave, candidate: candidate, share: 1)
            #expect(try await eventually(within: .seconds(30)) { holder.experiment(.interleave) != nil })
            let activeModel = try #require(holder.current())
            let candidateModel = try #require(holder.experiment(.interleave)).candidate
            let rankings = [
                "active": try await activeModel.score(query: query, images: images.map(\.key), top: nil).results,
                "candidate": try await candidateModel.score(query: query, images: images.map(\.key), top: nil).results,
            ]
            let answer = try await Self.score(client, inlineBody)
            let placed = answer.results.map { String($0.prefix { $0 != " " }) }
            #expect(placed.count == 6 && placed.allSatisfy { $0.hasPrefix("upload-") })
            let connection = try fixture.connect()
            defer { connection.close() }
            let id = answer.rankingID
            #expect(
                try await eventually(within: .seconds(30)) {
                    try connection.query("SELECT 1 FROM rankings WHERE id = \(id)::uuid").first != nil
                }
            )
            let found = try #require(
                try connection.query("SELECT images, teams, experiment FROM rankings WHERE id = \(id)::uuid").first
            )
            let teams = try found.decode([String].self, column: 1)
            #expect(try found.decode([String].self, column: 0) == placed)
            #expect(try found.decode(Int64.self, column: 2) == experiment.id)
            #expect(teams.count == 6)
            for (position, team) in teams.enumerated() {
                let ranking = try #require(rankings[team])
                let best = try #require(ranking.first { !placed.prefix(position).contains("upload-" + $0.image) })
                #expect(answer.results[position] == "upload-\(best.image) \(best.score) \(best.visualWeight)")
            }
        }
    }

    /// Under shadow scoring the candidate ranks the request's inline images too, encoded with its own model: the
    /// shadow ranking recorded beside the served one holds the inline keys in the order the candidate gives the same
    /// features imported.
    @Test func shadowScoringRanksInlineImagesWithTheCandidatesModel() async throws {
        let fixture = try LearningFixture.serving()
        let candidate = try fixture.publish(seed: 1, activate: false)
        let active = try fixture.publish(seed: 2, activate: true)
        let (holder, _, app) = scoringWorker(fixture, testConfiguration())
        let images = Array(try Self.catalogImages(fixture).prefix(10))
        let inline = images.map { Self.line($0, key: "upload-\($0.key)", base64: false) }
        let query = fixture.world.trainingQueries[3].text
        let inlineBody = try jsonBody(["query": query, "images": [String](), "inline_images": inline])
        try await app.test(.router) { client in
            #expect(try await eventually(within: .seconds(30)) { holder.current()?.version == active })
            _ = try fixture.startExperiment(.shadow, candidate: candidate, share: 1)
            #expect(try await eventually(within: .seconds(30)) { holder.experiment(.shadow) != nil })
            let candidateModel = try #require(holder.experiment(.shadow)).candidate
            let expected = try await candidateModel.score(query: query, images: images.map(\.key), top: nil)
            let answer = try await Self.score(client, inlineBody)
            let id = answer.rankingID
            let connection = try fixture.connect()
            defer { connection.close() }
            #expect(
                try await eventually(within: .seconds(30)) {
                    try connection.query("SELECT 1 FROM rankings WHERE shadow_of = \(id)::uuid").first != nil
                }
            )
            let row = try #require(
                try connection.query("SELECT images, model_version FROM rankings WHERE shadow_of = \(id)::uuid").first
            )
            #expect(try row.decode([String].self, column: 0) == expected.results.map { "upload-" + $0.image })
            #expect(try row.decode(Int64.self, column: 1) == candidate)
        }
    }

    // MARK: - Helpers

    /// The catalog's images as stored, in key order.
    static func catalogImages(_ fixture: LearningFixture) throws -> [CatalogImage] {
        let connection = try fixture.connect()
        defer { connection.close() }
        return try CatalogStore(connection: connection).allImages().sorted { $0.key < $1.key }
    }

    /// An image as a catalog line object under `key`: `regions_b64` with `shape` (the exact bits), or `regions`
    /// as decimals (which round back to the same float32 values).
    static func line(_ image: CatalogImage, key: String, base64: Bool) -> [String: Any] {
        var object: [String: Any] = ["image": key, "keywords": image.keywords]
        if base64 {
            object["regions_b64"] = Data(image.regionBytes).base64EncodedString()
            object["shape"] = [image.regionCount, image.regionDimension]
        } else {
            object["regions"] = (0..<image.regionCount).map { image.region($0).map { Double($0) } }
        }
        return object
    }

    /// Scores a body that must succeed.
    /// - Returns: Each result as `"image score visual_weight"` (floats as float32), the unknown keys, the ranking id.
    static func score(
        _ client: some TestClientProtocol,
        _ body: ByteBuffer
    ) async throws -> (results: [String], unknown: [String], rankingID: String) {
        try await client.execute(uri: "/v1/score", method: .post, body: body) { response in
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            let object = try jsonObject(response.body)
            let results = try #require(object["results"] as? [[String: Any]])
            return (
                results.map { result in
                    let score = Float(result["score"] as? Double ?? .nan)
                    let visual = Float(result["visual_weight"] as? Double ?? .nan)
                    return "\(result["image"] as? String ?? "?") \(score) \(visual)"
                },
                try #require(object["unknown_images"] as? [String]),
                try #require(object["ranking_id"] as? String)
            )
        }
    }
}
