import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A stop signal shared by the load threads.
final class StopFlag: Sendable {
    private let value = Atomic(false)

    func set() { value.store(true, ordering: .releasing) }

    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// One keep-alive HTTP/1.1 connection to `127.0.0.1:port` over a blocking socket (`TCP_NODELAY`, 10 s receive
/// timeout). Understands exactly what the scoring API sends: a status line, headers, a `Content-Length` body.
final class LoopbackHTTPConnection {
    struct Response {
        var status: Int
        var headerVersion: Int64?
        var body: [UInt8]

        /// The `model_version` field of a JSON body (sorted keys, no spaces, as the API writes it).
        var bodyVersion: Int64? {
            let needle = Array("\"model_version\":".utf8)
            guard body.count > needle.count else { return nil }
            for start in 0...(body.count - needle.count) where body[start] == needle[0] {
                guard body[start..<(start + needle.count)].elementsEqual(needle) else { continue }
                var value: Int64 = 0
                var index = start + needle.count
                var digits = 0
                while index < body.count, body[index] >= 48, body[index] <= 57 {
                    value = value * 10 + Int64(body[index] - 48)
                    index += 1
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            return nil
        }
    }

    struct Failure: Error {
        var message: String
    }

    private let descriptor: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        #if canImport(Glibc)
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw Failure(message: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            throw Failure(message: "connect: errno \(errno)")
        }
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    /// Sends one complete request and reads its response.
    func roundTrip(_ request: [UInt8]) throws -> Response {
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(message: "send: errno \(errno)") }
            sent += n
        }
        var headerEnd: Int?
        while true {
            if let end = Self.find([13, 10, 13, 10], in: buffer) {
                headerEnd = end
                break
            }
            try receive()
        }
        guard let headerEnd else { throw Failure(message: "no header") }
        let head = String(decoding: buffer[..<headerEnd], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first,
            let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { throw Failure(message: "bad status line") }
        var length: Int?
        var version: Int64?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" { length = Int(value) }
            if name == "amc-model-version" { version = Int64(value) }
        }
        guard let length else { throw Failure(message: "no Content-Length") }
        let total = headerEnd + 4 + length
        while buffer.count < total { try receive() }
        let body = Array(buffer[(headerEnd + 4)..<total])
        buffer.removeFirst(total)
        return Response(status: status, headerVersion: version, body: body)
    }

    private func receive() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw Failure(message: n == 0 ? "connection closed" : "recv: errno \(errno)") }
        buffer += chunk[..<n]
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return start }
        }
        return nil
    }
}
