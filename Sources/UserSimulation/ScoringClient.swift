import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A client of `amc serve`'s `POST /v1/score` (design §5), as a search front end calls it.
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
    private let session: URLSession

    /// A client of the scorer at `baseURL`.
    /// - Parameters:
    ///   - baseURL: The scorer, e.g. `http://127.0.0.1:8080`.
    ///   - timeout: How long one request may take. Default: 10 s.
    ///   - connections: How many requests may be in flight at once, each on its own connection (at least the
    ///     session's own default). Default: 1.
    public init(baseURL: URL, timeout: Duration = .seconds(10), connections: Int = 1) {
        self.baseURL = baseURL
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = max(configuration.httpMaximumConnectionsPerHost, connections)
        configuration.timeoutIntervalForRequest =
            Double(timeout.components.seconds)
            + Double(timeout.components.attoseconds) / 1e18
        session = URLSession(configuration: configuration)
    }

    /// Asks the scorer to rank `images` for `query`.
    /// - Parameters:
    ///   - query: The query text.
    ///   - images: The candidate image keys.
    ///   - top: How many results to return, or nil for all.
    /// - Returns: The ranking.
    /// - Throws: ``UserSimulationError`` when the request fails, the status is not 200 or the body is not a ranking.
    public func score(query: String, images: [String], top: Int?) async throws -> Ranking {
        var body: [String: Any] = ["query": query, "images": images]
        if let top { body["top"] = top }
        var request = URLRequest(url: baseURL.appendingPathComponent("v1/score"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await session.data(for: request)
        } catch {
            throw UserSimulationError("POST \(request.url?.absoluteString ?? ""): \(error.localizedDescription)")
        }
        return try Self.ranking(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
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
        let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any]
        guard status == 200 else {
            let reason = object?["error"] as? String ?? String(decoding: body.prefix(200), as: UTF8.self)
            throw UserSimulationError("POST /v1/score answered \(status): \(reason)")
        }
        guard let object, let results = object["results"] as? [[String: Any]] else {
            throw UserSimulationError("POST /v1/score answered 200 without a results array")
        }
        let ranked = results.compactMap { $0["image"] as? String }
        guard ranked.count == results.count else {
            throw UserSimulationError("POST /v1/score answered a result without an image key")
        }
        let rankingID: String? =
            switch object["ranking_id"] {
            case let text as String: text
            case let number as NSNumber: number.stringValue
            default: nil
            }
        return Ranking(
            images: ranked,
            rankingID: rankingID,
            modelVersion: (object["model_version"] as? NSNumber)?.int64Value
        )
    }
}
