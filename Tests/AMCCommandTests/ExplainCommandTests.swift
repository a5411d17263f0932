import Foundation
import Postgres
import TestSupport
import Testing

@testable import AMCCommand
@testable import Serving

/// `amc explain` run as a binary against a real PostgreSQL, and its text formatting.
@Suite(.timeLimit(.minutes(8)))
struct ExplainCommandTests {
    @Test func explainsTheActiveVersionsScoreAsTextAndAsTheAPIsJSON() async throws {
        let registry = try await RegistryDatabase(bootstraps: 2)
        defer { registry.remove() }
        let (common, query, image) = (registry.common, registry.query, registry.image)

        let json = try await amc(["explain", query, image, "--json"] + common)
        #expect(json.status == 0, "\(json.stderr)")
        let response = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(response["model_version"] as? Int == 2)
        #expect(response["unknown_images"] as? [String] == [])
        let results = try #require(response["results"] as? [[String: Any]])
        #expect(results.count == 1)
        let result = results[0]
        #expect(result["image"] as? String == image)
        let explanation = try #require(result["explanation"] as? [String: Any])
        #expect(explanation["architecture"] as? String == "amc")
        let mixing = try #require(explanation["mixing_weights"] as? [String: Double])
        #expect(mixing["visual"] == result["visual_weight"] as? Double)
        #expect(mixing["language"] == result["language_weight"] as? Double)
        let regions = try #require(explanation["region_attention"] as? [String: Any])
        let alpha = try #require(regions["weights"] as? [Double])
        #expect((regions["rows"] as? Int ?? 0) * (regions["columns"] as? Int ?? 0) == alpha.count)
        #expect(abs(alpha.reduce(0, +) - 1) < 1e-5)
        let keywords = try #require(explanation["keyword_attention"] as? [[String: Any]])
        #expect(!keywords.isEmpty && keywords.allSatisfy { ($0["keyword"] as? String)?.isEmpty == false })

        // An explicit version; the older one differs.
        let second = try await amc(["explain", query, image, "--json", "--version", "2"] + common)
        #expect(second.stdout == json.stdout)
        let first = try await amc(["explain", query, image, "--json", "--version", "1"] + common)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains(#""model_version":1"#) && first.stdout != json.stdout)

        // Text (stdout is a pipe here: shades without colour).
        let text = try await amc(["explain", "  " + query.uppercased(), image, "--numbers"] + common)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.hasPrefix("model version 2, query \"\(query)\", image \(image)\n"), "\(text.stdout)")
        #expect(!text.stdout.contains("\u{1B}"))
        let score = try #require(result["score"] as? Double)
        #expect(text.stdout.contains("score      \(String(format: "%.4f", score))"), "\(text.stdout)")
        let firstKeyword = try #require(keywords.first?["keyword"] as? String)
        #expect(text.stdout.contains(firstKeyword))
        #expect(text.stdout.contains("regions    α, "))
    }

    @Test func unknownImagesVersionsAndNoActiveVersionAreOneClearLine() async throws {
        let registry = try await RegistryDatabase(bootstraps: 1)
        defer { registry.remove() }
        let (common, query, image) = (registry.common, registry.query, registry.image)

        let unknownImage = try await amc(["explain", query, "no-such-image"] + common)
        #expect(unknownImage.status != 0)
        #expect(unknownImage.stderr == "Error: image no-such-image is not in the catalog\n", "\(unknownImage.stderr)")

        let unknownVersion = try await amc(["explain", query, image, "--version", "9"] + common)
        #expect(unknownVersion.status != 0)
        #expect(unknownVersion.stderr == "Error: model version 9 does not exist\n", "\(unknownVersion.stderr)")

        let blank = try await amc(["explain", "   ", image] + common)
        #expect(blank.status != 0)
        #expect(blank.stderr.hasPrefix("Error: the query is empty"), "\(blank.stderr)")

        let empty = try TestPostgres.freshDatabase()
        let noVersion = try await amc(["explain", query, image, "--database-url", empty])
        #expect(noVersion.status != 0)
        #expect(noVersion.stderr.hasPrefix("Error: no model version is active"), "\(noVersion.stderr)")
        #expect(noVersion.stderr.split(separator: "\n").count == 1)
    }

    @Test func theHeatMapShadesCellsByTheirShareOfTheLargestAndColoursOnlyWhenAsked() {
        let explained = ScoringResult.Item(
            image: "img",
            score: 0.5,
            visualWeight: 0.75,
            languageWeight: 0.25,
            explanation: ExplanationBody(
                architecture: "amc",
                mixingWeights: ["visual": 0.75, "language": 0.25],
                regionAttention: ExplanationBody.RegionAttention(rows: 2, columns: 2, weights: [0.4, 0.3, 0.2, 0.1]),
                keywordAttention: [
                    ExplanationBody.KeywordWeight(keyword: "baby", weight: 0.625),
                    ExplanationBody.KeywordWeight(keyword: "bump\u{1B}[2J", weight: 0.375),
                ],
                keywordCount: 3
            )
        )
        let plain = ExplanationText(style: .plain, numbers: true).render(explained, query: "snooki", version: 4)
        #expect(
            plain == """
                model version 4, query "snooki", image img
                score      0.5000
                β          visual 0.7500   language 0.2500
                keywords   λ, top 2 of 3:
                  0.6250  baby
                  0.3750  bump\\u{1b}[2J
                regions    α, 2 × 2, shaded relative to the largest, ██ = 0.4000:
                  ██▓▓
                  ▒▒░░
                  0.4000 0.3000
                  0.2000 0.1000
                """
        )
        let colored = ExplanationText(style: .color, numbers: false).render(explained, query: "snooki", version: 4)
        #expect(colored.contains("\u{1B}[38;5;196m██\u{1B}[0m\u{1B}[38;5;214m▓▓\u{1B}[0m"))
        #expect(!colored.contains("0.1000"))
        #expect(ExplanationText.level(0, top: 0) == 0 && ExplanationText.level(0.01, top: 1) == 0)
        #expect(ExplanationText.standardOutputStyle(environment: ["NO_COLOR": "1"]) == .plain)
    }

    /// An architecture whose mixing weights are not a visual and a language weight (AMS's scales) gets them listed,
    /// heaviest first.
    @Test func otherMixingWeightsAreListedHeaviestFirst() {
        let explained = ScoringResult.Item(
            image: "img",
            score: 0.5,
            visualWeight: 0.75,
            languageWeight: 0.25,
            explanation: ExplanationBody(
                architecture: "ams",
                mixingWeights: ["regions": 0.375, "grid2x2": 0.125, "global": 0.25, "keywords": 0.25],
                regionAttention: nil,
                keywordAttention: [],
                keywordCount: 0
            )
        )
        let plain = ExplanationText(style: .plain, numbers: false).render(explained, query: "snooki", version: 4)
        #expect(
            plain == """
                model version 4, query "snooki", image img
                score      0.5000
                β          visual 0.7500   language 0.2500
                mixing     regions 0.3750   global 0.2500   keywords 0.2500   grid2x2 0.1250
                keywords   none attended
                regions    none attended
                """
        )
    }
}
