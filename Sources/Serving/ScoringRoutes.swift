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
        let routes = [
            Route("/v1/score", .post) { try await score($0) },
            Route("/v1/model", .get) { _ in try model() },
            Route("/healthz", .get) { _ in try json(.ok, ["status": "up"]) },
            Route("/readyz", .get) { _ in
                guard let served = holder.current() else { throw APIError.noModel }
                return try json(.ok, ReadyBody(status: "ready", modelVersion: served.version))
            },
            Route("/metrics", .get) { _ in
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return Response(
                    status: .ok,
                    headers: headers,
                    body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.render()))
                )
            },
        ]
        let router = Router()
        let methods = Dictionary(uniqueKeysWithValues: routes.map { ($0.path, $0.method) })
        router.add(middleware: UnmatchedRequests(methods: methods))
        for route in routes {
            router.on(RouterPath(route.path), method: route.method) { request, _ in
                await measured(route.path) { try await route.handler(request) }
            }
        }
        return router
    }

    /// One route: a path, the method it answers, and its handler.
    private struct Route: Sendable {
        var path: String
        var method: HTTPRequest.Method
        var handler: @Sendable (Request) async throws -> Response

        init(
            _ path: String,
            _ method: HTTPRequest.Method,
            handler: @escaping @Sendable (Request) async throws -> Response
        ) {
            self.path = path
            self.method = method
            self.handler = handler
        }
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
}

/// A JSON response.
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

/// Answers the requests no route matches with the JSON error body: 405 with `Allow` for a route called with
/// another method, 404 for any other path (the router's own answers have no body).
struct UnmatchedRequests: RouterMiddleware {
    /// Each route's path and method.
    let methods: [String: HTTPRequest.Method]

    func handle(
        _ request: Request,
        context: BasicRequestContext,
        next: (Request, BasicRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // The router ignores empty path components ("/healthz/" is "/healthz"), so this lookup does too.
            let path = "/" + request.uri.path.split(separator: "/").joined(separator: "/")
            var response: Response
            if let method = methods[path] {
                let message = "\(path) answers \(method.rawValue) only, not \(request.method.rawValue)"
                response = try json(.methodNotAllowed, ErrorBody(error: message))
                response.headers[.allow] = method.rawValue
            } else {
                response = try json(.notFound, ErrorBody(error: "no route \(request.uri.path)"))
            }
            // A HEAD answer has no body.
            return request.method == .head ? response.createHeadResponse() : response
        }
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
