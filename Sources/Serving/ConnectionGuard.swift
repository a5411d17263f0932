import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Prometheus
import Synchronization

/// The server's open connections, for the connection limit (``ServingConfiguration/maxConnections``).
///
/// Each connection's ``ConnectionGuardHandler`` registers it on accept and reports its phase as it goes. A new
/// connection over the limit takes the place of the connection that has waited longest while still sending its
/// request head, else the one idle longest, else the one that has waited longest for the end of its body: those are
/// the connections a slow or idle client holds, never one with a request being answered. When every connection has a
/// request being answered, the new one is closed at once. So clients that hold connections open without finishing
/// their requests cannot keep `/healthz` (or anything else) from being answered.
final class ConnectionRegistry: Sendable {
    /// Where a connection is in its request cycle.
    enum Phase: Int, Comparable {
        /// Accepted, its first request head not complete yet.
        case awaitingHead
        /// Keep-alive, between requests.
        case idle
        /// Its request head is read, its body not complete yet.
        case readingBody
        /// A request of it is being answered.
        case answering

        static func < (lhs: Phase, rhs: Phase) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// What to do with a new connection.
    enum Admission {
        /// Keep it (under `id`); `evict` the connection it takes the place of, if there is one.
        case admitted(id: Int, evict: (@Sendable () -> Void)?)
        /// Close it: the limit is reached and every connection has a request being answered.
        case refused
    }

    private struct Entry {
        var evict: @Sendable () -> Void
        var phase: Phase
        var since: ContinuousClock.Instant
    }

    private struct State {
        var nextID = 0
        var entries: [Int: Entry] = [:]
    }

    /// The most connections kept open.
    let limit: Int
    private let state = Mutex(State())

    /// - Parameter limit: The most connections kept open (at least 1).
    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Descriptors kept free for everything but client connections: the listening socket, the database connection,
    /// the event loops' own, standard streams, files.
    static let reservedDescriptors = 64

    /// The connection limit this process can hold: `configured`, lowered (with a warning) to the descriptor limit
    /// (`ulimit -n`) less ``reservedDescriptors`` when that is smaller, so accepting never fails for want of
    /// descriptors, which would leave every new connection, `/healthz` included, waiting in the listen queue.
    static func effectiveLimit(configured: Int, logger: Logger) -> Int {
        var limits = rlimit()
        #if canImport(Glibc)
        let read = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limits)
        #else
        let read = getrlimit(RLIMIT_NOFILE, &limits)
        #endif
        guard read == 0 else { return configured }
        let available = max(1, Int(clamping: limits.rlim_cur) - reservedDescriptors)
        guard configured > available else { return configured }
        logger.warning(
            "serve.max-connections is more than the descriptor limit allows; using the lower limit",
            metadata: [
                ServingLoggingKeys.configured: "\(configured)",
                ServingLoggingKeys.connections: "\(available)",
                ServingLoggingKeys.descriptors: "\(limits.rlim_cur)",
            ]
        )
        return available
    }

    /// The number of connections registered.
    var count: Int { state.withLock { $0.entries.count } }

    /// Registers a new connection, making room for it when the limit is reached.
    /// - Parameter evict: Closes the new connection to make room for another (called on any thread).
    func admit(evict: @escaping @Sendable () -> Void) -> Admission {
        state.withLock { state in
            var evicted: (@Sendable () -> Void)?
            if state.entries.count >= limit {
                let candidates = state.entries.filter { $0.value.phase != .answering }
                guard
                    let oldest = candidates.min(by: {
                        ($0.value.phase, $0.value.since) < ($1.value.phase, $1.value.since)
                    })
                else { return .refused }
                evicted = oldest.value.evict
                state.entries[oldest.key] = nil
            }
            let id = state.nextID
            state.nextID += 1
            state.entries[id] = Entry(evict: evict, phase: .awaitingHead, since: .now)
            return .admitted(id: id, evict: evicted)
        }
    }

    /// Records that connection `id` entered `phase`.
    func update(_ id: Int, to phase: Phase) {
        state.withLock { state in
            guard state.entries[id] != nil else { return }
            state.entries[id]?.phase = phase
            state.entries[id]?.since = .now
        }
    }

    /// Forgets connection `id` (closed).
    func remove(_ id: Int) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }
}

/// Guards one client connection (it sits in the HTTP/1 pipeline, after the request decoder): the connection limit
/// (``ConnectionRegistry``), a deadline for the request head from the accept
/// (``ServingConfiguration/headerTimeout``) and one for the body from the head
/// (``ServingConfiguration/bodyTimeout``). A connection past a deadline is closed; one whose body was late has its
/// request fail with ``RequestBodyCut`` first, so the request is counted as a 408.
///
/// It also answers a request the decoder cannot parse (a framing error: a bad request line, header or length)
/// with `400 {"error": …}` and `Connection: close`, counted under the route `malformed`.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let registry: ConnectionRegistry
    private let metrics: ServingMetrics
    private let headerTimeout: Duration
    private let bodyTimeout: Duration
    private var id: Int?
    private var deadline: Scheduled<Void>?
    /// Whether a request's body is being read (its head came, its end not yet).
    private var readingBody = false
    /// Requests whose head was read and whose response has not ended.
    private var unanswered = 0

    init(registry: ConnectionRegistry, metrics: ServingMetrics, headerTimeout: Duration, bodyTimeout: Duration) {
        self.registry = registry
        self.metrics = metrics
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let eventLoop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: eventLoop)
        switch registry.admit(evict: { eventLoop.execute { bound.value.0.evicted(bound.value.1) } }) {
        case .refused:
            metrics.connectionClosed(.refused)
            context.close(promise: nil)
            return
        case .admitted(let id, let evict):
            self.id = id
            metrics.connections.set(Double(registry.count))
            evict?()
        }
        schedule(context, after: headerTimeout) { handler, context in
            handler.metrics.connectionClosed(.headerTimeout)
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        forget()
    }

    func channelInactive(context: ChannelHandlerContext) {
        forget()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            readingBody = true
            unanswered += 1
            // A pipelined request behind one still being answered leaves the connection answering (never evicted).
            if unanswered == 1 { update(.readingBody) }
            schedule(context, after: bodyTimeout) { handler, context in
                handler.metrics.connectionClosed(.bodyTimeout)
                // The request in flight fails with this (a 408), then the connection closes.
                let seconds = handler.bodyTimeout.components.seconds
                context.fireErrorCaught(RequestBodyCut(reason: "it was not complete within \(seconds) s"))
                context.close(promise: nil)
            }
        case .body:
            break
        case .end:
            readingBody = false
            cancelDeadline()
            // The answer may already have gone out (a 413, 404 or 405 is written before the body ends): then the
            // connection is idle, not answering, and may be closed to make room.
            update(unanswered > 0 ? .answering : .idle)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered = max(0, unanswered - 1)
            if unanswered == 0 { update(.idle) }
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError, !readingBody, unanswered == 0 else {
            context.fireErrorCaught(error)
            return
        }
        cancelDeadline()
        if case .invalidEOFState = error {
            // The client closed in the middle of a request head: nobody to answer.
            context.close(promise: nil)
            return
        }
        // A request that cannot be parsed, between requests: answer it here, since no handler will see it.
        let status: HTTPResponse.Status = .badRequest
        let message = #"{"error":"the request is not valid HTTP/1.1 ("# + Self.describe(error) + #")"}"#
        var body = context.channel.allocator.buffer(capacity: message.utf8.count)
        body.writeString(message)
        var head = HTTPResponse(status: status)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.readableBytes)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        metrics.record(route: ScoringRoutes.malformedRoute, status: Int(status.code), duration: nil)
    }

    // MARK: - Plumbing

    /// Closes the connection to make room for another.
    private func evicted(_ context: ChannelHandlerContext) {
        // The registry no longer counts it: close it even if it is not active yet, so it cannot stay open uncounted.
        guard context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        metrics.connectionClosed(.evicted)
        if readingBody {
            // Its request in flight fails like a late body (a 408), not like a client that left.
            context.fireErrorCaught(RequestBodyCut(reason: "its connection made room for another"))
        }
        context.close(promise: nil)
    }

    private func update(_ phase: ConnectionRegistry.Phase) {
        if let id { registry.update(id, to: phase) }
    }

    private func forget() {
        cancelDeadline()
        guard let id else { return }
        self.id = nil
        registry.remove(id)
        metrics.connections.set(Double(registry.count))
    }

    private func schedule(
        _ context: ChannelHandlerContext,
        after delay: Duration,
        _ expired: @escaping (ConnectionGuardHandler, ChannelHandlerContext) -> Void
    ) {
        cancelDeadline()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) {
            self.deadline = nil
            expired(self, context)
        }
    }

    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }

    /// A short, fixed description of a framing error (no request bytes in it).
    private static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .headerOverflow: "headers too large"
        case .invalidMethod: "invalid method"
        case .invalidURL: "invalid request target"
        case .invalidVersion: "invalid HTTP version"
        case .invalidContentLength, .unexpectedContentLength: "invalid Content-Length"
        case .invalidChunkSize: "invalid chunk size"
        case .invalidHeaderToken, .invalidCharactersUsed: "invalid header"
        default: "malformed request"
        }
    }
}

@available(*, unavailable)
extension ConnectionGuardHandler: Sendable {}

/// The server stopped reading a request's body: it did not arrive within ``ServingConfiguration/bodyTimeout`` of
/// its head, or the connection was closed to make room for another (answered, and counted, as 408).
struct RequestBodyCut: Error {
    /// Why, for the error body: `it was not complete within 30 s`.
    var reason: String
}
