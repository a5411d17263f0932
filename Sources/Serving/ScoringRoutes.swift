import Foundation
import Hummingbird
import Model

/// The routes of the scoring API and their request and response bodies.
struct ScoringRoutes: Sendable {
    let configuration: ServingConfiguration
    let holder: ModelHolder
    let metrics: ServingMetrics
    let beforeScoring: (@Sendable () async -> Void)?

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/v1/score") { request, _ in
            await measured("/v1/score") { try await score(request) }
        }
        router.get("/v1/model") { _, _ in
            await measured("/v1/model") { try model() }
        }
        router.get("/healthz") { _, _ in
            await measured("/healthz") { try json(.ok, ["status": "up"]) }
        }
        router.get("/readyz") { _, _ in
            await measured("/readyz") {
                guard let served = holder.current() else { throw APIError.noModel }
                return try json(.ok, ReadyBody(status: "ready", modelVersion: served.version))
            }
        }
        router.get("/metrics") { _, _ in
            await measured("/metrics") {
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return Response(
                    status: .ok,
                    headers: headers,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.render()))
                )
            }
        }
        return router
    }

    // MARK: - Handlers

    private func score(_ request: Request) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxBodyBytes {
            throw APIError.bodyTooLarge(configuration.maxBodyBytes)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: configuration.maxBodyBytes)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError.bodyTooLarge(configuration.maxBodyBytes)
        }
        let body = try ScoreRequest.decode(Data(buffer.readableBytesView))
        try validate(body)
        // One snapshot for the whole request: a swap meanwhile does not change what this request uses.
        guard let served = holder.current() else { throw APIError.noModel }
        if let beforeScoring { await beforeScoring() }
        let outcome = served.score(query: body.query, images: body.images, top: body.top)
        var response = try json(
            .ok,
            ScoreResponse(
                modelVersion: served.version,
                results: outcome.results.map {
                    ScoreResponse.Item(
                        image: $0.image,
                        score: $0.score,
                        visualWeight: $0.visualWeight,
                        languageWeight: $0.languageWeight
                    )
                },
                unknownImages: outcome.unknownImages
            )
        )
        response.headers[ScoringAPI.versionHeader] = String(served.version)
        return response
    }

    private func validate(_ body: ScoreRequest) throws {
        guard body.query.utf8.count <= configuration.maxQueryBytes else {
            throw APIError.badRequest("query is longer than \(configuration.maxQueryBytes) bytes")
        }
        guard body.query.contains(where: { !$0.isWhitespace }) else {
            throw APIError.badRequest("query must not be empty")
        }
        guard !body.images.isEmpty else { throw APIError.badRequest("images must not be empty") }
        guard body.images.count <= configuration.maxImages else {
            throw APIError.badRequest("too many images: at most \(configuration.maxImages) per request")
        }
        guard !body.images.contains(where: \.isEmpty) else {
            throw APIError.badRequest("image keys must not be empty")
        }
        if let top = body.top, top < 1 { throw APIError.badRequest("top must be at least 1") }
    }

    private func model() throws -> Response {
        guard let served = holder.current() else { throw APIError.noModel }
        let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var response = try json(
            .ok,
            ModelBody(
                version: served.version,
                sha256: served.sha256,
                activatedAt: format.format(served.activatedAt),
                loadedAt: format.format(served.loadedAt),
                catalogImages: served.catalogImages,
                regionDimension: served.model.configuration.regionDimension
            )
        )
        response.headers[ScoringAPI.versionHeader] = String(served.version)
        return response
    }

    // MARK: - Plumbing

    /// Runs a handler, turns errors into JSON error responses (4xx for the client's mistakes, 503 without a model,
    /// 500 otherwise) and records the request's status and latency.
    private func measured(_ route: String, _ body: () async throws -> Response) async -> Response {
        let started = ContinuousClock.now
        let response: Response
        do {
            response = try await body()
        } catch let error as APIError {
            response = (try? json(error.status, ErrorBody(error: error.message))) ?? Response(status: error.status)
        } catch {
            response =
                (try? json(.internalServerError, ErrorBody(error: "internal error")))
                ?? Response(status: .internalServerError)
        }
        metrics.record(route: route, status: response.status.code, duration: started.duration(to: .now))
        return response
    }

    private func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(
            status: status,
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value)))
        )
    }
}

/// An error answered with `{"error": message}`.
struct APIError: Error {
    var status: HTTPResponse.Status
    var message: String

    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, message: message) }

    static func bodyTooLarge(_ limit: Int) -> APIError {
        APIError(status: .contentTooLarge, message: "request body is larger than \(limit) bytes")
    }

    static let noModel = APIError(status: .serviceUnavailable, message: "no model version is loaded yet")
}

// MARK: - Bodies

/// `POST /v1/score` body.
struct ScoreRequest: Decodable {
    var query: String
    var images: [String]
    var top: Int?

    /// Decodes a body, describing what is wrong in a client-facing message.
    static func decode(_ data: Data) throws -> ScoreRequest {
        do {
            return try JSONDecoder().decode(ScoreRequest.self, from: data)
        } catch let error as DecodingError {
            throw APIError.badRequest(describe(error))
        } catch {
            throw APIError.badRequest("body is not valid JSON")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _):
            return "missing field '\(key.stringValue)'"
        case .valueNotFound(_, let context):
            return context.codingPath.isEmpty ? "body must be a JSON object" : "field '\(path(context))' is null"
        case .typeMismatch(_, let context):
            guard let field = context.codingPath.first?.stringValue else { return "body must be a JSON object" }
            let expected =
                switch field {
                case "query": "a string"
                case "images": "an array of strings"
                case "top": "an integer"
                default: "another type"
                }
            return "field '\(path(context))' has the wrong type: '\(field)' must be \(expected)"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "body is not valid JSON" : "field '\(path(context))' is invalid"
        @unknown default:
            return "body is not valid JSON"
        }
    }
}

/// `POST /v1/score` response.
struct ScoreResponse: Encodable {
    struct Item: Encodable {
        var image: String
        var score: Float
        var visualWeight: Float
        var languageWeight: Float

        enum CodingKeys: String, CodingKey {
            case image, score
            case visualWeight = "visual_weight"
            case languageWeight = "language_weight"
        }
    }

    var modelVersion: Int64
    var results: [Item]
    var unknownImages: [String]

    enum CodingKeys: String, CodingKey {
        case modelVersion = "model_version"
        case results
        case unknownImages = "unknown_images"
    }
}

/// `GET /v1/model` response.
struct ModelBody: Encodable {
    var version: Int64
    var sha256: String
    var activatedAt: String
    var loadedAt: String
    var catalogImages: Int
    var regionDimension: Int

    enum CodingKeys: String, CodingKey {
        case version, sha256
        case activatedAt = "activated_at"
        case loadedAt = "loaded_at"
        case catalogImages = "catalog_images"
        case regionDimension = "region_dimension"
    }
}

/// `GET /readyz` response when ready.
struct ReadyBody: Encodable {
    var status: String
    var modelVersion: Int64

    enum CodingKeys: String, CodingKey {
        case status
        case modelVersion = "model_version"
    }
}

/// Every error response.
struct ErrorBody: Encodable {
    var error: String
}
