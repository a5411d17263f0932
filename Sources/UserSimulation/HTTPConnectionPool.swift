import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Keep-alive HTTP/1.1 connections to one server, as a search front end keeps them: a request takes an idle
/// connection (or opens one), sends its whole body, reads the whole response and gives the connection back for the
/// next request, so a steady load pays for no connection set-up. One request at a time per connection; as many
/// connections as requests in flight.
final class HTTPConnectionPool: Sendable {
    /// A whole response.
    struct Response: Sendable {
        /// The status code.
        var status: Int
        /// The body.
        var body: [UInt8]
    }

    /// Why a request failed below HTTP.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let host: String
    private let port: Int
    private let group: any EventLoopGroup
    /// Connections that answered their last request and were left open by the server.
    private let idle = Mutex<[any Channel]>([])
    /// At most this many idle connections are kept; more are closed.
    private let maxIdle: Int

    /// A pool of connections to `host:port`.
    /// - Parameters:
    ///   - host: The server's address.
    ///   - port: Its port.
    ///   - maxIdle: How many idle connections to keep open (the requests usually in flight).
    ///   - group: The event loops the connections run on. Default: NIO's shared singleton.
    init(host: String, port: Int, maxIdle: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.port = port
        self.maxIdle = max(1, maxIdle)
        self.group = group
    }

    deinit {
        for channel in idle.withLock({ $0 }) { channel.close(promise: nil) }
    }

    /// Sends `POST path` with a JSON `body` and waits for the whole response.
    /// - Parameters:
    ///   - path: The request target, e.g. `/v1/score`.
    ///   - body: The request body (JSON).
    ///   - timeout: How long the request may take once sent; the connection is closed when it runs out.
    /// - Returns: The status and the body.
    /// - Throws: ``Failure`` when the connection cannot be opened, closes before the response is complete, or the
    ///   timeout runs out; NIO's error when the response is not valid HTTP.
    func post(_ path: String, json body: [UInt8], timeout: Duration) async throws -> Response {
        let channel = try await connection()
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.count))
        let response = channel.eventLoop.makePromise(of: ExchangeHandler.Answer.self)
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            response.fail(Failure(description: "no response within \(timeout)"))
            channel.close(promise: nil)
        }
        channel.writeAndFlush(
            ExchangeHandler.Exchange(head: head, body: channel.allocator.buffer(bytes: body), answer: response),
            promise: nil
        )
        let answer: ExchangeHandler.Answer
        do {
            answer = try await response.futureResult.get()
        } catch {
            deadline.cancel()
            channel.close(promise: nil)
            throw error
        }
        deadline.cancel()
        if answer.keepAlive {
            let kept = idle.withLock { connections in
                guard connections.count < maxIdle else { return false }
                connections.append(channel)
                return true
            }
            if !kept { channel.close(promise: nil) }
        } else {
            channel.close(promise: nil)
        }
        return Response(status: answer.status, body: Array(answer.body.readableBytesView))
    }

    /// An idle connection that is still open, or a new one.
    private func connection() async throws -> any Channel {
        while let channel = idle.withLock({ $0.popLast() }) {
            if channel.isActive { return channel }
        }
        do {
            return try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            throw Failure(description: "cannot connect to \(host):\(port): \(error)")
        }
    }
}

/// Sends one request on its connection and collects its response; fails the waiting request when the connection
/// errs or closes first.
private final class ExchangeHandler: ChannelDuplexHandler {
    /// A request and where its answer goes.
    struct Exchange: Sendable {
        var head: HTTPRequestHead
        var body: ByteBuffer
        var answer: EventLoopPromise<Answer>
    }

    /// A whole response.
    struct Answer: Sendable {
        var status: Int
        var keepAlive: Bool
        var body: ByteBuffer
    }

    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    private var waiting: EventLoopPromise<Answer>?
    private var answer: Answer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        waiting = exchange.answer
        answer = nil
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(exchange.body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            answer = Answer(
                status: Int(head.status.code),
                keepAlive: head.isKeepAlive,
                body: context.channel.allocator.buffer(capacity: 0)
            )
        case .body(var part):
            answer?.body.writeBuffer(&part)
        case .end:
            guard let answer else { return }
            self.answer = nil
            waiting?.succeed(answer)
            waiting = nil
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        waiting?.fail(error)
        waiting = nil
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        waiting?.fail(HTTPConnectionPool.Failure(description: "the connection closed before the response ended"))
        waiting = nil
        context.fireChannelInactive()
    }
}
