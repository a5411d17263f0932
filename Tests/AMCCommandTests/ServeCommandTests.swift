import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `amc serve` as operators meet it when something is wrong with its address or its database.
@Suite(.timeLimit(.minutes(6)))
struct ServeCommandTests {
    @Test func aBusyPortIsOneClearLineBeforeAnythingLoads() async throws {
        let url = try TestPostgres.freshDatabase()
        let (listener, port) = try listeningLoopbackSocket()
        defer { close(listener) }
        let result = try await amc(["serve", "--database-url", url, "--port", "\(port)"])
        #expect(result.status != 0)
        #expect(
            result.stderr.split(separator: "\n") == [
                "Error: cannot listen on 127.0.0.1:\(port): the port is already in use (choose another with --port "
                    + "or serve.port)"
            ]
        )
    }

    @Test func aDatabaseItCannotConnectToIsReportedAsSuchWithTheReason() async throws {
        guard var components = URLComponents(string: try TestPostgres.adminURL()) else {
            throw TestFailure("bad URL")
        }
        components.user = "amc_no_such_login"
        components.password = "pw-never-printed-7f3a"
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("amc-serve-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: log) }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let serve = Process()
        serve.executableURL = amcExecutable
        serve.arguments = ["serve", "--database-url", try #require(components.string), "--port", "0"]
        serve.standardOutput = FileHandle.nullDevice
        serve.standardError = try FileHandle(forWritingTo: log)
        try serve.run()
        defer {
            if serve.isRunning {
                serve.terminate()
                serve.waitUntilExit()
            }
        }
        let reported = try await blocking {
            try eventually {
                let text = try String(contentsOf: log, encoding: .utf8)
                return text.contains("could not connect to the database") && text.contains("amc_no_such_login")
            }
        }
        let text = try String(contentsOf: log, encoding: .utf8)
        #expect(reported, "\(text)")
        #expect(text.contains("retrying"), "\(text)")
        #expect(!text.contains("lost its database connection"), "\(text)")
        #expect(!text.contains("pw-never-printed-7f3a"), "the password is never printed")
        serve.terminate()
        serve.waitUntilExit()
        #expect(serve.terminationStatus == 0)
    }
}

/// A socket listening on 127.0.0.1 on a free port, and the port.
private func listeningLoopbackSocket() throws -> (descriptor: Int32, port: Int) {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestFailure("socket failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let listening = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, length) == 0 && listen(descriptor, 8) == 0 && getsockname(descriptor, $0, &length) == 0
        }
    }
    guard listening else {
        close(descriptor)
        throw TestFailure("listening on 127.0.0.1:0 failed")
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}
