import Foundation
import Hummingbird
import HummingbirdTesting
import Serving
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The server against clients that misbehave on the socket, over real TCP connections: connections held open with
/// partial requests are closed (header and body deadlines, the connection limit) while `/healthz` stays answered; a
/// client that leaves in the middle of its body, requests that match no route, and requests that are not HTTP are
/// each counted with a 4xx (or 499), never as a 5xx.
@Suite struct ConnectionTests {
    /// With deadlines too long to help, the connection limit alone makes room for new connections (closing the
    /// oldest of those still sending their request head), so `/healthz` is answered while 150 partial requests are
    /// held open.
    @Test func theConnectionLimitMakesRoomWhilePartialRequestsAreHeld() async throws {
        var configuration = testConfiguration()
        configuration.headerTimeout = .seconds(600)
        configuration.bodyTimeout = .seconds(600)
        configuration.idleTimeout = .seconds(600)
        configuration.maxConnections = 130
        let limit = configuration.maxConnections
        let metrics = ServingMetrics()
        try await withPartialRequestsHeld(configuration, metrics: metrics) { port, held in
            for _ in 0..<5 {
                let answer = try await blocking { try RawConnection.exchange(port: port, "GET /healthz") }
                #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            }
            // 150 held against a limit of 130: at least 20 of them made room.
            let madeRoom = try await eventually(within: .seconds(60)) {
                held.filter { $0.isClosedByServer() }.count >= 150 - limit
            }
            #expect(madeRoom, "\(held.filter { $0.isClosedByServer() }.count) of the held connections were closed")
        }
        let text = metrics.render()
        #expect(!text.contains(#"amc_serve_connections_closed_total{reason="evicted"} 0"#))
        #expect(!text.contains(#"status="5"#), "no slow client is a server error")
    }

    /// Partial request heads, partial bodies and idle keep-alive connections are each closed by their deadline,
    /// and `/healthz` stays answered meanwhile.
    @Test func partialRequestsAreClosedByTheirDeadlines() async throws {
        var configuration = testConfiguration()
        configuration.headerTimeout = .seconds(2)
        configuration.bodyTimeout = .seconds(2)
        configuration.idleTimeout = .seconds(4)
        let metrics = ServingMetrics()
        try await withPartialRequestsHeld(configuration, metrics: metrics) { port, held in
            let answer = try await blocking { try RawConnection.exchange(port: port, "GET /healthz") }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            let allClosed = try await eventually(within: .seconds(60)) { held.allSatisfy { $0.isClosedByServer() } }
            #expect(allClosed)
            let after = try await blocking { try RawConnection.exchange(port: port, "GET /healthz") }
            #expect(after.hasPrefix("HTTP/1.1 200"), "\(after)")
        }
        let text = metrics.render()
        for reason in ["header_timeout", "body_timeout"] {
            #expect(!text.contains(#"amc_serve_connections_closed_total{reason="\#(reason)"} 0"#), "\(reason)")
        }
        #expect(!text.contains(#"status="5"#), "no slow client is a server error")
    }

    /// Runs `body` against a live worker holding 150 connections: a third stopped in their request head, a third in
    /// their body, a third idle after a request.
    private func withPartialRequestsHeld(
        _ configuration: ServingConfiguration,
        metrics: ServingMetrics,
        _ body: @escaping @Sendable (Int, [RawConnection]) async throws -> Void
    ) async throws {
        let app = ScoringAPI.buildApplication(
            configuration: configuration,
            databaseURL: try TestPostgres.freshDatabase(),
            metrics: metrics,
            logger: testLogger
        )
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var held: [RawConnection] = []
            for index in 0..<150 {
                let connection = try RawConnection(port: port)
                switch index % 3 {
                case 0: try connection.send("POST /v1/score HTTP/1.1\r\nHost: amc\r\nContent-Le")
                case 1:
                    try connection.send(
                        "POST /v1/score HTTP/1.1\r\nHost: amc\r\nContent-Length: 1000\r\n\r\n{\"query\": \"kit"
                    )
                default: try connection.send("GET /healthz HTTP/1.1\r\nHost: amc\r\n\r\nGET /heal")
                }
                held.append(connection)
            }
            try await body(port, held)
        }
    }

    @Test func underALowDescriptorLimitPartialRequestsCannotKeepHealthzWaiting() async throws {
        // The real binary, with 200 descriptors and deadlines too long to help: the connection limit alone must
        // keep the worker accepting.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("amc-fd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("amc.json")
        try #"{"serve": {"header-timeout-seconds": 300, "body-timeout-seconds": 300, "idle-timeout-seconds": 300}}"#
            .write(to: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: "/bin/bash")
        serve.arguments = [
            "-c", #"ulimit -n 200 && exec "$0" "$@""#,
            repositoryRoot.appendingPathComponent(".build/debug/amc").path,
            "serve", "--config", config.path, "--database-url", try TestPostgres.freshDatabase(), "--port", "0",
        ]
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = try FileHandle(forWritingTo: log)
        try serve.run()
        defer {
            serve.terminate()
            serve.waitUntilExit()
        }
        var port: Int?
        _ = try await eventually(within: .seconds(60)) {
            let text = try String(contentsOf: log, encoding: .utf8)
            guard let range = text.range(of: "amc.serve.address=127.0.0.1:") else { return false }
            port = Int(text[range.upperBound...].prefix { $0.isNumber })
            return port != nil
        }
        let bound = try #require(port, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        var held: [RawConnection] = []
        for _ in 0..<300 {
            let connection = try RawConnection(port: bound)
            try connection.send("POST /v1/score HTTP/1.1\r\nHost: amc\r\nContent-Le")
            held.append(connection)
        }
        for _ in 0..<3 {
            let answer = try await blocking { try RawConnection.exchange(port: bound, "GET /healthz") }
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        }
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(text.contains("serve.max-connections is more than the descriptor limit allows"), "\(text)")
        #expect(held.contains { $0.isClosedByServer() }, "the oldest partial requests made room")
    }

    @Test func abandonedBodiesUnmatchedRoutesAndFramingErrorsAreCountedAsClientErrors() async throws {
        let metrics = ServingMetrics()
        let app = ScoringAPI.buildApplication(
            configuration: testConfiguration(),
            databaseURL: try TestPostgres.freshDatabase(),
            metrics: metrics,
            logger: testLogger
        )
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // A body announced as 1000 bytes, then the client leaves after 10.
            let leaving = try RawConnection(port: port)
            try leaving.send("POST /v1/score HTTP/1.1\r\nHost: amc\r\nContent-Length: 1000\r\n\r\n{\"query\":")
            leaving.close()
            #expect(
                try await eventually(within: .seconds(30)) {
                    metrics.render().contains(#"amc_serve_requests_total{route="/v1/score",status="499"} 1"#)
                }
            )

            let notFound = try await blocking { try RawConnection.exchange(port: port, "GET /no/such/route") }
            #expect(notFound.hasPrefix("HTTP/1.1 404"))
            let wrongMethod = try await blocking { try RawConnection.exchange(port: port, "GET /v1/score") }
            #expect(wrongMethod.hasPrefix("HTTP/1.1 405"))
            for garbage in [
                "POST /v1/score HTTP/1.1\r\nContent-Length: abc\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
                "\u{1}\u{2}\r\n\r\n",
            ] {
                let answer = try await blocking { try RawConnection.exchange(port: port, raw: garbage) }
                #expect(answer.hasPrefix("HTTP/1.1 400"), "\(garbage.debugDescription): \(answer)")
                #expect(answer.contains("application/json"), "\(garbage.debugDescription): \(answer)")
                let body = try #require(answer.components(separatedBy: "\r\n\r\n").last)
                let error = try jsonObject(ByteBuffer(string: body))["error"] as? String
                #expect(error?.isEmpty == false, "\(garbage.debugDescription): \(answer)")
            }
        }
        let text = metrics.render()
        #expect(text.contains(#"amc_serve_requests_total{route="unmatched",status="404"} 1"#))
        #expect(text.contains(#"amc_serve_requests_total{route="/v1/score",status="405"} 1"#))
        #expect(text.contains(#"amc_serve_requests_total{route="malformed",status="400"} 3"#))
        #expect(!text.contains(#"status="5"#), "no client mistake is a server error")
        // The abandoned request's wait is the client's, not a latency of the server: only the 405 is timed.
        #expect(text.contains(#"amc_serve_request_duration_seconds_count{route="/v1/score"} 1"#))
    }
}

/// A TCP connection to the server on 127.0.0.1, with blocking reads bounded by a receive timeout.
final class RawConnection: Sendable {
    private let descriptor: Int32

    /// Connects to `127.0.0.1:port`.
    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestFailure("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            Glibc.close(descriptor)
            throw TestFailure("connecting to 127.0.0.1:\(port) failed: errno \(errno)")
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(descriptor) }

    /// Sends `text` (all of it).
    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw TestFailure("send failed: errno \(errno)") }
            sent += count
        }
    }

    /// Shuts the connection down in both directions (the descriptor is released on deinit).
    func close() {
        shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Whether the server has closed the connection: what it sent is read and dropped, then the end of the stream
    /// (or a reset) means closed, nothing more to read yet means open.
    func isClosedByServer() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 { continue }
            if count == 0 { return true }
            return errno != EAGAIN && errno != EWOULDBLOCK
        }
    }

    /// Everything the server sends until it closes (or the 30 s receive timeout).
    func readToEnd() -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Sends one request (`line`, e.g. `GET /healthz`, with `Connection: close`) on a new connection and returns the
    /// whole answer.
    static func exchange(port: Int, _ line: String) throws -> String {
        try exchange(port: port, raw: "\(line) HTTP/1.1\r\nHost: amc\r\nConnection: close\r\n\r\n")
    }

    /// Sends `raw` bytes on a new connection and returns everything the server answers before closing.
    static func exchange(port: Int, raw: String) throws -> String {
        let connection = try RawConnection(port: port)
        try connection.send(raw)
        return connection.readToEnd()
    }
}
