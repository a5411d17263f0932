import ClickLog
import Foundation
import Hummingbird
import HummingbirdTesting
import Serving
import TestSupport
import Testing

/// `POST /v1/score` bodies are read with the rules ingest applies to JSON click events: a body ingest would
/// dead-letter for its JSON or its query is refused here too, with a message naming the field.
@Suite struct RequestRulesTests {
    /// A body, the message its 400 must carry, and the JSON click event with the same flaw (nil: ingest has no such
    /// field).
    private static let cases: [(body: String, message: String, event: String?)] = [
        (
            #"{"query": "kitten", "images": [], "images": ["a"]}"#,
            "field 'images' appears more than once",
            #"{"query": "kitten", "image": "a", "image": "b"}"#
        ),
        (
            #"{"query": "kit\u0000ten", "images": ["a"]}"#,
            "query contains the control character U+0",
            #"{"query": "kit\u0000ten", "image": "a"}"#
        ),
        (
            #"{"query": "kit\u001bten", "images": ["a"]}"#,
            "query contains the control character U+1B",
            #"{"query": "kit\u001bten", "image": "a"}"#
        ),
        (#"{"query": "kitten", "images": ["a"], "top": 1.5}"#, #"field 'top' must be an integer ≥ 1, got "1.5""#, nil),
        (
            #"{"query": "kitten", "images": ["a"], "top": 1e30}"#, #"field 'top' must be an integer ≥ 1, got "1e30""#,
            nil
        ),
        (#"{"query": "kitten", "images": ["a"], "top": 0}"#, #"field 'top' must be an integer ≥ 1, got "0""#, nil),
        (#"{"query": "kitten", "images": ["a", 7]}"#, #"field 'images[1]' must be a string, got "7""#, nil),
        (
            #"{"query": "kitten", "images": ["a"]} x"#,
            "body is not valid JSON: unexpected data after the JSON value at byte 37", nil
        ),
        (#"[1]"#, "body is not a JSON object but an array", nil),
        (#"{"images": ["a"]}"#, "missing field 'query'", nil),
        (#"{"query": null, "images": ["a"]}"#, "field 'query' is null", nil),
    ]

    @Test func bodiesIngestWouldRefuseAreRefusedWithAMessageNamingTheField() async throws {
        let metrics = ServingMetrics()
        let app = ScoringAPI.buildApplication(
            configuration: testConfiguration(),
            databaseURL: try TestPostgres.freshDatabase(),
            metrics: metrics,
            logger: testLogger
        )
        try await app.test(.router) { client in
            for (body, message, _) in Self.cases {
                try await client.execute(uri: "/v1/score", method: .post, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .badRequest, "\(body)")
                    let error = try jsonObject(response.body)["error"] as? String
                    #expect(error == message, "\(body)")
                }
            }
            // Tabs and line feeds are whitespace, collapsed like ingest does: such a query is valid.
            let tabbed = ByteBuffer(string: #"{"query": "kit\tten\n", "images": ["a"], "top": null}"#)
            try await client.execute(uri: "/v1/score", method: .post, body: tabbed) { response in
                #expect(response.status == .serviceUnavailable, "valid, but no model is loaded")
            }
        }
        #expect(!metrics.render().contains(#"status="500""#))
        // The same flaws in a click event: ingest refuses them for the same reason.
        for case let (_, message, event?) in Self.cases {
            guard case .failure(let error) = ClickLogParser().parse(event) else {
                Issue.record("ingest accepted \(event)")
                continue
            }
            let field = message.hasPrefix("query") ? "query" : "field 'image'"
            #expect(error.detail.hasPrefix(field), "\(event): \(error.detail)")
        }
    }
}
