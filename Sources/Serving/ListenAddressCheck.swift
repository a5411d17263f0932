import NIOCore
import NIOPosix

extension ScoringAPI {
    /// Checks that the worker can listen on `host:port` (binds it for a moment and lets go), so an address in use or
    /// not allowed is reported before any model is loaded, in one clear line.
    /// - Parameters:
    ///   - host: The address to bind.
    ///   - port: The port (0 checks only the address).
    /// - Throws: ``ListenAddressUnavailable`` saying why not.
    public static func checkListenAddress(host: String, port: Int) async throws {
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port)
                .get()
            try await channel.close()
        } catch let error as IOError {
            throw ListenAddressUnavailable(host: host, port: port, reason: ListenAddressUnavailable.reason(error))
        } catch {
            throw ListenAddressUnavailable(host: host, port: port, reason: "\(error)")
        }
    }
}

/// The scoring worker cannot listen on its address.
public struct ListenAddressUnavailable: Error, CustomStringConvertible {
    /// The address.
    public var host: String
    /// The port.
    public var port: Int
    /// Why, for example `the port is already in use`.
    public var reason: String

    public var description: String { "cannot listen on \(host):\(port): \(reason)" }

    static func reason(_ error: IOError) -> String {
        switch error.errnoCode {
        case EADDRINUSE: "the port is already in use (choose another with --port or serve.port)"
        case EACCES: "permission denied (ports below 1024 need privileges)"
        case EADDRNOTAVAIL: "the address is not one of this host's (set another with --host or serve.host)"
        default: "\(error)"
        }
    }
}
