import ClickLog
import Foundation

/// A client of `amc serve`'s `POST /v1/score` (design §5), as a search front end calls it: over keep-alive
/// HTTP/1.1 connections, one per request in flight.
public struct ScoringClient: Sendable {
    /// What the scorer answered: the ranking and what identifies it.
    public struct Ranking: Sendable, Hashable {
        /// The image keys in the order the scorer ranked them (best first).
        public var images: [String]
        /// The response's `ranking_id`, when it has one (a string; a number is taken as its decimal text).
        public var rankingID: String?
        /// The response's `model_version`.
        public var modelVersion: Int64?
    }

    /// The scorer's base URL (`http://host:port`).
    public let baseURL: URL
    private let connections: HTTPConnectionPool
    private let path: String
    private let timeout: Duration

    /// A client of the scorer at `baseURL`.
    /// - Parameters:
    ///   - baseURL: The scorer, e.g. `http://127.0.0.1:8080` (plain HTTP: the scorer serves no TLS; port 80 when
    ///     the URL names none).
    ///   - timeout: How long one request may take. Default: 10 s.
    ///   - connections: How many idle keep-alive connections to keep: the requests usually in flight (each in flight
    ///     has its own connection). Default: 1.
    public init(baseURL: URL, timeout: Duration = .seconds(10), connections: Int = 1) {
        self.baseURL = baseURL
        self.timeout = timeout
        let base = baseURL.path.hasSuffix("/") ? String(baseURL.path.dropLast()) : baseURL.path
        path = base + "/v1/score"
        self.connections = HTTPConnectionPool(
            host: baseURL.host ?? "127.0.0.1",
            port: baseURL.port ?? 80,
            maxIdle: connections
        )
    }

    /// Asks the scorer to rank `images` for `query`.
    /// - Parameters:
    ///   - query: The query text.
    ///   - images: The candidate image keys.
    ///   - top: How many results to return, or nil for all.
    /// - Returns: The ranking.
    /// - Throws: ``UserSimulationError`` when the request fails, the status is not 200 or the body is not a ranking.
    public func score(query: String, images: [String], top: Int?) async throws -> Ranking {
        let response: HTTPConnectionPool.Response
        do {
            response = try await connections.post(
                path,
                json: Array(Self.requestBody(query: query, images: images, top: top).utf8),
                timeout: timeout
            )
        } catch {
            throw UserSimulationError("POST \(baseURL.absoluteString)\(path): \(error)")
        }
        return try Self.ranking(status: response.status, bytes: response.body)
    }

    /// The JSON body of a `POST /v1/score` request: `{"query":…,"images":[…]}`, with `"top"` when it is given.
    static func requestBody(query: String, images: [String], top: Int?) -> String {
        var body = #"{"query":"#
        body.reserveCapacity(32 + images.reduce(query.utf8.count) { $0 + $1.utf8.count + 3 })
        JSONStringLiteral.append(query, to: &body)
        body += #","images":["#
        for (index, image) in images.enumerated() {
            if index > 0 { body += "," }
            JSONStringLiteral.append(image, to: &body)
        }
        body += "]"
        if let top { body += #","top":\#(top)"# }
        body += "}"
        return body
    }

    /// The ranking a `POST /v1/score` response describes.
    /// - Parameters:
    ///   - status: The HTTP status.
    ///   - body: The response body.
    /// - Returns: The ranked image keys, the `ranking_id` (a string, or a number's decimal text) when the body has
    ///   one, and the `model_version`.
    /// - Throws: ``UserSimulationError`` when the status is not 200 (with the body's `error`) or the body has no
    ///   `results` array of objects with an `image` key.
    public static func ranking(status: Int, body: Data) throws -> Ranking {
        try ranking(status: status, bytes: [UInt8](body))
    }

    private static func ranking(status: Int, bytes body: [UInt8]) throws -> Ranking {
        let answer = body.withUnsafeBufferPointer { ScoringResponse(parsing: $0) }
        guard status == 200 else {
            let reason = answer?.error ?? String(decoding: body.prefix(200), as: UTF8.self)
            throw UserSimulationError("POST /v1/score answered \(status): \(reason)")
        }
        guard let answer, let results = answer.results else {
            throw UserSimulationError("POST /v1/score answered 200 without a results array")
        }
        let ranked = results.compactMap { $0 }
        guard ranked.count == results.count else {
            throw UserSimulationError("POST /v1/score answered a result without an image key")
        }
        return Ranking(images: ranked, rankingID: answer.rankingID, modelVersion: answer.modelVersion)
    }
}

/// The members of a `POST /v1/score` response the users read, taken in one pass over the body.
private struct ScoringResponse {
    /// `error`, when it is a string.
    var error: String?
    /// `results`, when it is an array of objects: each one's `image` when it is a string.
    var results: [String?]?
    /// `ranking_id`: a string, or a number's text.
    var rankingID: String?
    /// `model_version`, when it is an integer.
    var modelVersion: Int64?

    /// The response in `bytes`, or nil when they are not one valid JSON object.
    init?(parsing bytes: UnsafeBufferPointer<UInt8>) {
        var json = JSONScanner(bytes: bytes)
        do throws(JSONSyntaxError) {
            json.skipWhitespace()
            guard json.peek(UInt8(ascii: "{")) else { return nil }
            if json.enter(.object) {
                repeat {
                    switch try json.memberKey() {
                    case "error" where json.peek(UInt8(ascii: "\"")): error = try json.string()
                    case "ranking_id" where json.peek(UInt8(ascii: "\"")): rankingID = try json.string()
                    case "ranking_id" where json.atNumber: rankingID = try json.number()
                    case "model_version" where json.atNumber: modelVersion = Int64(try json.number())
                    case "results" where json.peek(UInt8(ascii: "[")): results = try Self.images(&json)
                    default: try json.skipValue(depth: 1, maxDepth: Self.maxDepth)
                    }
                } while try json.next(in: .object)
            }
            json.skipWhitespace()
            guard json.isAtEnd else { return nil }
        } catch {
            return nil
        }
    }

    private static let maxDepth = 16

    /// The `image` of every result (nil for a result without a string `image`); nil when an element is not an
    /// object.
    private static func images(_ json: inout JSONScanner) throws(JSONSyntaxError) -> [String?]? {
        var images: [String?] = []
        var allObjects = true
        guard json.enter(.array) else { return images }
        repeat {
            guard json.peek(UInt8(ascii: "{")) else {
                allObjects = false
                try json.skipValue(depth: 2, maxDepth: maxDepth)
                continue
            }
            var image: String?
            if json.enter(.object) {
                repeat {
                    if try json.memberKey() == "image", json.peek(UInt8(ascii: "\"")) {
                        image = try json.string()
                    } else {
                        try json.skipValue(depth: 3, maxDepth: maxDepth)
                    }
                } while try json.next(in: .object)
            }
            images.append(image)
        } while try json.next(in: .array)
        return allObjects ? images : nil
    }
}
