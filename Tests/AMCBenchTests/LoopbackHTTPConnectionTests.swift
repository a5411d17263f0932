import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Testing

@testable import AMCBench

/// The benchmark's HTTP/1.1 client against a real HTTP server (Hummingbird on a loopback port).
@Suite(.timeLimit(.minutes(2)))
struct LoopbackHTTPConnectionTests {
    @Test func aRoundTripReadsTheStatusTheVersionHeaderAndTheBody() async throws {
        try await withTestServer { port in
            let response = try await onThread {
                try LoopbackHTTPConnection(port: port).roundTrip(scoreRequest(query: "red car"))
            }
            #expect(response.status == 200)
            #expect(response.headerVersion == 7)
            #expect(response.bodyVersion == 7)
            #expect(String(decoding: response.body, as: UTF8.self) == #"{"model_version":7,"query":"red car"}"#)
        }
    }

    @Test func oneConnectionCarriesManyRequestsIncludingErrorsAndLargeBodies() async throws {
        try await withTestServer { port in
            let responses = try await onThread {
                let connection = try LoopbackHTTPConnection(port: port)
                return try [
                    connection.roundTrip(scoreRequest(query: "a")),
                    connection.roundTrip(Array("GET /refused HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)),
                    connection.roundTrip(Array("GET /large HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)),
                    connection.roundTrip(scoreRequest(query: "b")),
                ]
            }
            #expect(responses.map(\.status) == [200, 400, 200, 200])
            #expect(responses[1].headerVersion == nil)
            #expect(responses[1].bodyVersion == nil)
            #expect(String(decoding: responses[1].body, as: UTF8.self) == #"{"error":"refused"}"#)
            // Larger than one 64 KiB read: the client keeps reading until Content-Length bytes arrived.
            #expect(responses[2].body.count == 300_000)
            #expect(responses[2].body.allSatisfy { $0 == UInt8(ascii: "x") })
            #expect(String(decoding: responses[3].body, as: UTF8.self) == #"{"model_version":7,"query":"b"}"#)
        }
    }

    @Test func aPortNobodyListensOnIsAFailureNotAHang() async throws {
        let port = try await withTestServer { port in port }
        // The server has stopped: its port refuses connections.
        await #expect(throws: LoopbackHTTPConnection.Failure.self) {
            try await onThread { _ = try LoopbackHTTPConnection(port: port) }
        }
    }

    @Test func theBodysVersionIsReadOnlyFromADigitRun() {
        func version(_ body: String) -> Int64? {
            LoopbackHTTPConnection.Response(status: 200, headerVersion: nil, body: Array(body.utf8)).bodyVersion
        }
        #expect(version(#"{"model_version":12,"results":[]}"#) == 12)
        #expect(version(#"{"results":[],"model_version":3}"#) == 3)
        #expect(version(#"{"model_version":null}"#) == nil)
        #expect(version(#"{"results":[]}"#) == nil)
        #expect(version("") == nil)
    }

    @Test func theLoadGeneratorRecordsEverySampleWithItsVersion() async throws {
        try await withTestServer { port in
            let requests = ["a", "b", "c"].map { scoreRequest(query: $0) }
            let result = try await BenchScore.load(port: port, requests: requests, clients: 2) {
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(!result.samples.isEmpty)
            #expect(result.failed == 0)
            #expect(result.samples.allSatisfy { $0.status == 200 && $0.version == 7 && $0.start <= $0.end })
            #expect(result.summary().count == result.samples.count)
        }
    }

    // MARK: - Helpers

    private func scoreRequest(query: String) -> [UInt8] {
        let body = Array("{\"query\":\"\(query)\",\"images\":[\"i1\"]}".utf8)
        let head =
            "POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }

    /// Runs a Hummingbird server on a free loopback port for the duration of `body`: `POST /v1/score` answers
    /// like the scoring API (version 7 in the header and the body), `GET /refused` with a 400, `GET /large` with
    /// 300 000 bytes.
    private func withTestServer<T: Sendable>(_ body: @Sendable (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/v1/score") { request, _ in
            let sent = try await request.body.collect(upTo: 1 << 20)
            let json = try JSONSerialization.jsonObject(with: Data(sent.readableBytesView)) as? [String: Any]
            let query = json?["query"] as? String ?? ""
            return Response(
                status: .ok,
                headers: [.contentType: "application/json", HTTPFields.Element.Name("AMC-Model-Version")!: "7"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"model_version":7,"query":"\#(query)"}"#))
            )
        }
        router.get("/refused") { _, _ in
            Response(
                status: .badRequest,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"error":"refused"}"#))
            )
        }
        router.get("/large") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain"],
                body: ResponseBody(byteBuffer: ByteBuffer(repeating: UInt8(ascii: "x"), count: 300_000))
            )
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let logger = Logger(label: "amc.bench.test")
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [.init(service: app)], logger: logger))
        let server = Task { try await group.run() }
        var port = 0
        for await bound in ports {
            port = bound
            break
        }
        let result: T
        do {
            result = try await body(port)
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await server.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await server.value
        return result
    }

    /// Runs blocking socket work on a thread of its own.
    private func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
