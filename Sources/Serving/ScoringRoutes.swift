import Catalog
import ClickLog
import Foundation
import Hummingbird
import Model
import NIOHTTP1
import Prometheus
import Registry

/// The routes of the scoring API and their request and response bodies.
struct ScoringRoutes: Sendable {
    let configuration: ServingConfiguration
    let holder: ModelHolder
    let metrics: ServingMetrics
    let recorder: RankingRecorder
    let shadowScorer: ShadowScorer
    let beforeScoring: (@Sendable () async -> Void)?

    /// The `route` label of requests that match no route (answered 404).
    static let unmatchedRoute = "unmatched"
    /// The `route` label of requests that cannot be parsed (framing errors, answered 400).
    static let malformedRoute = "malformed"

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
        router.add(middleware: UnmatchedRequests(methods: methods, metrics: metrics))
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
        } catch let error as RequestBodyCut {
            throw APIError(status: .requestTimeout, message: "request body not read: \(error.reason)")
        } catch let error as HTTPParserError {
            if case .invalidEOFState = error { throw APIError.clientClosed }
            throw APIError.badRequest("request body is not valid HTTP/1.1 framing")
        } catch {
            // The body's stream ended early or failed: the client went away before sending all of it.
            throw APIError.clientClosed
        }
        let body = try ScoreRequest.decode(buffer)
        let (query, inline) = try validate(body)
        // One snapshot for the whole request: a swap meanwhile does not change what this request uses.
        guard let served = holder.current() else { throw APIError.noModel }
        try checkDimensions(inline, served: served)
        if let beforeScoring { await beforeScoring() }
        var generator = SystemRandomNumberGenerator()
        // An explained request is never in an experiment: its explanations are the active version's.
        let interleaving = body.explain ? nil : participating(.interleave, served: served, using: &generator)
        let shadow =
            body.explain || interleaving != nil ? nil : participating(.shadow, served: served, using: &generator)
        let outcome: ScoringResult
        let teams: [String]?
        if let interleaving {
            let merged = try await interleaved(
                query: query,
                body: body,
                inline: inline,
                active: served,
                candidate: interleaving.candidate,
                using: &generator
            )
            outcome = merged.result
            teams = merged.teams
            metrics.interleaved.increment()
        } else {
            outcome = try await served.score(
                normalizedQuery: query,
                images: body.images,
                inline: inline,
                top: body.top,
                explain: body.explain
            )
            teams = nil
        }
        let servedAt = Date()
        let rankingID = RankingID.make(at: servedAt)
        var response = try json(.ok, ScoreResponse(modelVersion: served.version, rankingID: rankingID, outcome))
        // Shadow scoring is queued only once the response exists, and never waits (a full queue drops the job).
        let shadowQueued =
            shadow.map { shadow in
                shadowScorer.submit(
                    ShadowScorer.Job(
                        experiment: shadow,
                        query: query,
                        images: body.images,
                        inline: inline,
                        top: body.top,
                        servedRankingID: rankingID,
                        servedAt: servedAt
                    )
                )
            } ?? false
        // Recorded only once the response exists; never waits (a full queue drops the record and counts it).
        recorder.submit(
            RankingRecord(
                id: rankingID,
                servedAt: servedAt,
                modelVersion: served.version,
                query: query,
                images: outcome.results.map(\.image),
                teams: teams,
                experiment: interleaving?.experiment.id ?? (shadowQueued ? shadow?.experiment.id : nil)
            )
        )
        response.headers[ScoringAPI.versionHeader] = String(served.version)
        return response
    }

    /// The followed experiment of `kind` when this request takes part in it: drawn with the experiment's share, and
    /// never when its candidate is the version serving the request (activated meanwhile: nothing to compare).
    private func participating(
        _ kind: ExperimentKind,
        served: ServedModel,
        using generator: inout some RandomNumberGenerator
    ) -> ServedExperiment? {
        guard let experiment = holder.experiment(kind), experiment.candidate.version != served.version,
            experiment.includes(using: &generator)
        else { return nil }
        return experiment
    }

    /// Ranks with both versions and merges the rankings by team draft (``TeamDraft``), up to the request's `top`.
    /// Each merged item carries the score and modality weights its team's version gave it.
    /// - Returns: The merged result (the active version's unknown keys) and each position's team.
    private func interleaved(
        query: String,
        body: ScoreRequest,
        inline: [CatalogImage],
        active: ServedModel,
        candidate: ServedModel,
        using generator: inout some RandomNumberGenerator
    ) async throws -> (result: ScoringResult, teams: [String]) {
        // Each version encodes the inline images with its own image encoders.
        let activeRanking = try await active.score(
            normalizedQuery: query,
            images: body.images,
            inline: inline,
            top: nil
        )
        let candidateRanking = try await candidate.score(
            normalizedQuery: query,
            images: body.images,
            inline: inline,
            top: nil
        )
        let picks = TeamDraft.merge(
            active: activeRanking.results.map(\.image),
            candidate: candidateRanking.results.map(\.image),
            length: min(body.top ?? Int.max, activeRanking.results.count),
            using: &generator
        )
        let results = picks.map { pick in
            pick.team == .active ? activeRanking.results[pick.rankInTeam] : candidateRanking.results[pick.rankInTeam]
        }
        return (
            ScoringResult(results: results, unknownImages: activeRanking.unknownImages),
            picks.map(\.team.rawValue)
        )
    }

    /// Checks a request against the limits, its query with the rule ingest applies to a click's query
    /// (``QueryNormalizer/validated(_:field:maxBytes:)``), and each inline image as `amc catalog import` checks a
    /// catalog line (``CatalogParser``; its region dimension is checked against the served model's later).
    /// - Returns: The normalised query, which the request is scored and recorded with, and the inline images.
    private func validate(_ body: ScoreRequest) throws -> (query: String, inline: [CatalogImage]) {
        // The raw length first: it bounds the normalisation's work.
        guard body.query.utf8.count <= configuration.maxQueryBytes else {
            throw APIError.badRequest("query is longer than \(configuration.maxQueryBytes) bytes")
        }
        let query: String
        do {
            query = try QueryNormalizer.validated(body.query, field: "query", maxBytes: configuration.maxQueryBytes)
        } catch {
            throw APIError.badRequest(error.detail)
        }
        guard !body.images.isEmpty || !body.inlineImages.isEmpty else {
            throw APIError.badRequest("images must not be empty (unless inline_images is not)")
        }
        guard body.images.count + body.inlineImages.count <= configuration.maxImages else {
            throw APIError.badRequest(
                "too many images: at most \(configuration.maxImages) per request, images and inline_images together"
            )
        }
        guard !body.images.contains(where: \.isEmpty) else {
            throw APIError.badRequest("image keys must not be empty")
        }
        var inline: [CatalogImage] = []
        inline.reserveCapacity(body.inlineImages.count)
        var inlineKeys = Set<String>(minimumCapacity: body.inlineImages.count)
        for (index, text) in body.inlineImages.enumerated() {
            let image: CatalogImage
            do {
                image = try CatalogParser.parse(text, expectedDimension: nil)
            } catch {
                throw APIError.badRequest("inline_images[\(index)]: \(error.code): \(error.message)")
            }
            guard inlineKeys.insert(image.key).inserted else {
                throw APIError.badRequest(
                    "inline_images[\(index)]: field 'image' \(image.key.debugDescription) is given twice"
                )
            }
            inline.append(image)
        }
        return (query, inline)
    }

    /// Refuses inline images whose region dimension is not the served model's (import's `dimension_mismatch`).
    private func checkDimensions(_ inline: [CatalogImage], served: ServedModel) throws {
        let dimension = served.model.regionDimension
        if let index = inline.firstIndex(where: { $0.regionDimension != dimension }) {
            throw APIError.badRequest(
                "inline_images[\(index)]: dimension_mismatch: field 'regions' has D = \(inline[index].regionDimension); "
                    + "the served model's region dimension is \(dimension)"
            )
        }
    }

    private func model() throws -> Response {
        guard let served = holder.current() else { throw APIError.noModel }
        let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var response = try json(
            .ok,
            ModelBody(
                version: served.version,
                architecture: served.model.architecture,
                sha256: served.sha256,
                activatedAt: format.format(served.activatedAt),
                loadedAt: format.format(served.loadedAt),
                catalogImages: served.catalogImages,
                regionDimension: served.model.regionDimension
            )
        )
        response.headers[ScoringAPI.versionHeader] = String(served.version)
        return response
    }

    // MARK: - Plumbing

    /// Runs a handler, turns errors into JSON error responses (4xx for the client's mistakes, 503 without a model,
    /// 500 otherwise) and records the request's status and latency (not the latency of a request whose client did not
    /// send all of it: that wait is the client's).
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
        let abandoned = [APIError.clientClosed.status, .requestTimeout].contains(response.status)
        metrics.record(
            route: route,
            status: response.status.code,
            duration: abandoned ? nil : started.duration(to: .now)
        )
        return response
    }
}

/// A JSON response.
private func json(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(
        status: status,
        headers: headers,
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: try jsonBytes(value)))
    )
}

/// A JSON body as every route writes it: keys sorted, slashes not escaped.
func jsonBytes(_ value: some Encodable) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(value)
}

/// Answers the requests no route matches with the JSON error body: 405 with `Allow` for a route called with
/// another method, 404 for any other path (the router's own answers have no body). Both are counted: a 405 under its
/// route, a 404 under ``ScoringRoutes/unmatchedRoute`` (never the raw path, to keep the labels bounded).
struct UnmatchedRequests: RouterMiddleware {
    /// Each route's path and method.
    let methods: [String: HTTPRequest.Method]
    /// Where the answers are counted.
    let metrics: ServingMetrics

    func handle(
        _ request: Request,
        context: BasicRequestContext,
        next: (Request, BasicRequestContext) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
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
            metrics.record(
                route: methods[path] == nil ? ScoringRoutes.unmatchedRoute : path,
                status: response.status.code,
                duration: started.duration(to: .now)
            )
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

    /// The client closed the connection before its request was complete (nginx's 499; the answer reaches nobody).
    static let clientClosed = APIError(
        status: HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"),
        message: "the client closed the connection before sending the whole request body"
    )
}

// MARK: - Bodies

/// `POST /v1/score` body, read with the rules of ingest's JSON click events (``JSONObjectFields``): strict JSON,
/// every field at most once, exact types.
struct ScoreRequest {
    var query: String
    var images: [String]
    /// Each `inline_images` element as JSON text, a catalog line for ``CatalogParser`` (absent or `null`: none).
    var inlineImages: [String] = []
    var top: Int?
    /// Whether each result carries its explanation (`"explain": true`; absent or `null` is false).
    var explain = false

    /// Reads a body, describing what is wrong in a client-facing message.
    static func decode(_ bytes: ByteBuffer) throws -> ScoreRequest {
        do {
            let fields =
                try bytes.readableBytesView.withContiguousStorageIfAvailable {
                    try JSONObjectFields(parsing: $0)
                } ?? Array(bytes.readableBytesView).withUnsafeBufferPointer { try JSONObjectFields(parsing: $0) }
            guard let query = try fields.string("query") else { throw missing("query", in: fields) }
            guard let images = try fields.strings("images") else { throw missing("images", in: fields) }
            let top = try fields.integer("top", in: 1...Int64(Int.max), expected: "an integer ≥ 1")
            let explain = try fields.boolean("explain") ?? false
            let inlineImages = try fields.objectTexts("inline_images") ?? []
            return ScoreRequest(
                query: query,
                images: images,
                inlineImages: inlineImages,
                top: top.map { Int($0) },
                explain: explain
            )
        } catch let error as ClickLogError {
            switch error.reason {
            case .invalidJSON, .invalidUTF8: throw APIError.badRequest("body is \(error.detail)")
            default: throw APIError.badRequest(error.detail)
            }
        }
    }

    private static func missing(_ name: String, in fields: JSONObjectFields) -> APIError {
        APIError.badRequest(fields.contains(name) ? "field '\(name)' is null" : "missing field '\(name)'")
    }
}

/// `POST /v1/score` response.
struct ScoreResponse: Encodable {
    struct Item: Encodable {
        var image: String
        var score: Float
        var visualWeight: Float
        var languageWeight: Float
        /// Present only when the request asked for it (so a response without it is what it always was).
        var explanation: ExplanationBody?

        enum CodingKeys: String, CodingKey {
            case image, score, explanation
            case visualWeight = "visual_weight"
            case languageWeight = "language_weight"
        }
    }

    var modelVersion: Int64
    /// The id under which the ranking is recorded; click events name it (`"ranking"`) to be attributed. Always set
    /// by the route; nil only in `amc explain`'s copy of a body, which serves no ranking.
    var rankingID: String?
    var results: [Item]
    var unknownImages: [String]

    init(modelVersion: Int64, rankingID: String?, _ outcome: ScoringResult) {
        self.modelVersion = modelVersion
        self.rankingID = rankingID
        results = outcome.results.map {
            Item(
                image: $0.image,
                score: $0.score,
                visualWeight: $0.visualWeight,
                languageWeight: $0.languageWeight,
                explanation: $0.explanation
            )
        }
        unknownImages = outcome.unknownImages
    }

    enum CodingKeys: String, CodingKey {
        case modelVersion = "model_version"
        case rankingID = "ranking_id"
        case results
        case unknownImages = "unknown_images"
    }
}

/// `GET /v1/model` response.
struct ModelBody: Encodable {
    var version: Int64
    /// The version's scoring architecture (one of `ModelArchitectures.ids`).
    var architecture: String
    var sha256: String
    var activatedAt: String
    var loadedAt: String
    var catalogImages: Int
    var regionDimension: Int

    enum CodingKeys: String, CodingKey {
        case version, architecture, sha256
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
