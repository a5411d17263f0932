import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP forwarder: listens on `127.0.0.1:<port>` and pipes every accepted connection to the first
/// reachable upstream port on `127.0.0.1`, bytes both ways, until either side closes.
///
/// Exists because librdkafka 2.0.2's mock cluster (`rdkafka_mock.h`) always listens on ephemeral ports: the forwarder
/// gives clients a fixed bootstrap address. Kafka metadata then points them at the brokers' real (also loopback)
/// addresses, so only bootstrap connections pass through it.
///
/// Threads: one dedicated accept thread (joinable, joined by ``stop()``) and one detached pump thread per
/// connection, all plain POSIX threads blocked in `poll(2)`; none of it runs on the Swift cooperative pool.
///
/// Sendable: every mutable piece of state is behind a `Mutex`; the file descriptors in `let` properties are only
/// closed by ``stop()`` after the accept thread (their only other user) has been joined.
///
/// - Important: Call ``stop()``: the accept thread holds a strong reference, so an unstopped forwarder is never freed.
///   (``MockKafkaCluster`` stops its forwarders in `shutdown()` and `deinit`.)
/// - Important: File-descriptor ownership. The accept thread owns nothing; each pump thread owns its two sockets and
///   closes them after unregistering them from ``StateMachine`` under the lock. ``stop()`` calls `shutdown(2)` (never
///   `close`) on registered sockets while holding that same lock, so it can never touch a reused descriptor.
final class TCPForwarder: Sendable {
    /// The port clients connect to.
    let port: Int
    private let upstreamPorts: [Int]
    private let listener: Int32
    /// `pipe(2)`: `stop()` writes one byte to `wakeWrite` so the accept thread's `poll` returns.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let state = Mutex(StateMachine())
    private let acceptThread = Mutex<pthread_t?>(nil)

    /// Binds and starts listening.
    /// - Parameters:
    ///   - port: Listening port on 127.0.0.1, `1...65535`.
    ///   - upstreamPorts: Target ports on 127.0.0.1, tried in order for each connection.
    /// - Throws: ``KafkaError`` with message `port <port> is in use` if the port is taken, or another ``KafkaError``
    ///   for an invalid port or a failing socket call.
    init(port: Int, upstreamPorts: [Int]) throws {
        guard (1...65535).contains(port) else {
            throw KafkaError(code: .invalidArgument, message: "port \(port) is not in 1...65535", isRetriable: false)
        }
        guard !upstreamPorts.isEmpty else {
            throw KafkaError(code: .invalidArgument, message: "no upstream port to forward to", isRetriable: false)
        }
        self.port = port
        self.upstreamPorts = upstreamPorts
        self.listener = try Self.makeListener(port: port)
        var fds: [Int32] = [-1, -1]
        guard Self.makePipe(&fds) == 0 else {
            let error = Self.posixError("pipe", errno: errno)
            closeDescriptor(self.listener)
            throw error
        }
        self.wakeRead = fds[0]
        self.wakeWrite = fds[1]
        do {
            let thread = try startThread(detached: false) { [self] in self.acceptLoop() }
            self.acceptThread.withLock { $0 = thread }
        } catch {
            _ = self.state.withLock { $0.stop() }
            closeDescriptor(self.listener)
            closeDescriptor(self.wakeRead)
            closeDescriptor(self.wakeWrite)
            throw error
        }
    }

    /// Stops accepting, tears down every live connection (`shutdown(2)`, their pump threads then close them) and frees
    /// the listening port. Idempotent.
    ///
    /// - Important: Blocks until the accept thread has exited (normally within microseconds); the port is free again
    ///   when this returns.
    func stop() {
        let wasRunning = self.state.withLock { state -> Bool in
            guard case .shutdown(let sockets) = state.stop() else { return false }
            for socket in sockets {
                _ = shutdown(socket, Int32(SHUT_RDWR))
            }
            return true
        }
        guard wasRunning else { return }
        var byte: UInt8 = 1
        _ = write(self.wakeWrite, &byte, 1)
        if let thread = self.acceptThread.withLock({ $0.take() }) {
            _ = pthread_join(thread, nil)
        }
        closeDescriptor(self.listener)
        closeDescriptor(self.wakeRead)
        closeDescriptor(self.wakeWrite)
    }

    // MARK: - Accept loop (dedicated thread)

    private func acceptLoop() {
        var fds = [
            pollfd(fd: self.listener, events: Int16(POLLIN), revents: 0),
            pollfd(fd: self.wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }  // stop() was called.
            guard fds[0].revents != 0 else { continue }
            let client = Self.acceptConnection(self.listener)
            guard client >= 0 else {
                // ECONNABORTED, EMFILE, …: back off briefly instead of spinning, unless stopping.
                if errno != EINTR && errno != EAGAIN && errno != ECONNABORTED { usleep(10_000) }
                continue
            }
            self.forward(client)
        }
    }

    /// Connects `client` to an upstream port and starts its pump thread; closes `client` if that fails.
    private func forward(_ client: Int32) {
        guard let upstream = self.connectUpstream() else {
            closeDescriptor(client)
            return
        }
        guard case .registered(let id) = self.state.withLock({ $0.register(client: client, upstream: upstream) })
        else {
            closeDescriptor(client)
            closeDescriptor(upstream)
            return
        }
        do {
            _ = try startThread(detached: true) { [self] in self.pump(id: id, client: client, upstream: upstream) }
        } catch {
            self.state.withLock { $0.unregister(id) }
            closeDescriptor(client)
            closeDescriptor(upstream)
        }
    }

    private func connectUpstream() -> Int32? {
        for port in self.upstreamPorts {
            let socket = Self.makeSocket()
            guard socket >= 0 else { return nil }
            var address = Self.loopbackAddress(port: port)
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if result == 0 {
                var one: Int32 = 1
                _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                Self.disableSIGPIPE(socket)
                return socket
            }
            closeDescriptor(socket)
        }
        return nil
    }

    // MARK: - Pump (one dedicated thread per connection)

    /// Copies bytes both ways until either side closes or fails (or `stop()` shuts the sockets down), then closes both.
    private func pump(id: UInt64, client: Int32, upstream: Int32) {
        defer {
            // Unregister first (under the lock), so stop() cannot shut down a descriptor number after it is reused.
            self.state.withLock { $0.unregister(id) }
            closeDescriptor(client)
            closeDescriptor(upstream)
        }
        let capacity = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 1)
        defer { buffer.deallocate() }
        var fds = [
            pollfd(fd: client, events: Int16(POLLIN), revents: 0),
            pollfd(fd: upstream, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            for (from, to) in [(0, 1), (1, 0)] where fds[from].revents != 0 {
                guard Self.copyOnce(from: fds[from].fd, to: fds[to].fd, buffer: buffer, capacity: capacity) else {
                    return
                }
            }
        }
    }

    /// Reads what is available on `from` and writes all of it to `to`. Returns `false` on EOF or error.
    private static func copyOnce(from: Int32, to: Int32, buffer: UnsafeMutableRawPointer, capacity: Int) -> Bool {
        var count: Int
        repeat {
            count = recv(from, buffer, capacity, 0)
        } while count < 0 && errno == EINTR
        guard count > 0 else { return false }
        var offset = 0
        while offset < count {
            let sent = send(to, buffer + offset, count - offset, sendFlags)
            if sent < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += sent
        }
        return true
    }

    // MARK: - Sockets

    private static func makeListener(port: Int) throws -> Int32 {
        let socket = makeSocket()
        guard socket >= 0 else { throw posixError("socket", errno: errno) }
        var one: Int32 = 1
        _ = setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopbackAddress(port: port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(socket, 128) == 0 else {
            let code = errno
            closeDescriptor(socket)
            if code == EADDRINUSE {
                throw KafkaError(code: .fail, message: "port \(port) is in use", isRetriable: false)
            }
            throw posixError("listening on 127.0.0.1:\(port)", errno: code)
        }
        return socket
    }

    private static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)  // 127.0.0.1
        return address
    }

    private static func posixError(_ operation: String, errno code: Int32) -> KafkaError {
        KafkaError(code: .fail, message: "\(operation): \(String(cString: strerror(code)))", isRetriable: false)
    }

    private static func acceptConnection(_ listener: Int32) -> Int32 {
        let socket = accept(listener, nil, nil)
        if socket >= 0 {
            _ = fcntl(socket, F_SETFD, FD_CLOEXEC)
            disableSIGPIPE(socket)
        }
        return socket
    }

    /// A pipe whose ends are not inherited by child processes.
    private static func makePipe(_ fds: inout [Int32]) -> Int32 {
        guard pipe(&fds) == 0 else { return -1 }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        return 0
    }

    #if canImport(Glibc)
    private static let sendFlags = Int32(MSG_NOSIGNAL)

    private static func makeSocket() -> Int32 {
        socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    private static func disableSIGPIPE(_ socket: Int32) {}  // MSG_NOSIGNAL on every send.
    #else
    private static let sendFlags: Int32 = 0

    private static func makeSocket() -> Int32 {
        let socket = Darwin.socket(AF_INET, SOCK_STREAM, 0)
        if socket >= 0 { _ = fcntl(socket, F_SETFD, FD_CLOEXEC) }
        return socket
    }

    private static func disableSIGPIPE(_ socket: Int32) {
        var one: Int32 = 1
        _ = setsockopt(socket, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
    }
    #endif
}

// MARK: - State machine

extension TCPForwarder {
    /// Which connections are live, and whether the forwarder is stopping. Pure state; no I/O.
    struct StateMachine: ~Copyable {
        enum State {
            case running(connections: [UInt64: (client: Int32, upstream: Int32)])
            case stopped
        }

        enum RegisterAction: Equatable {
            /// Start the pump thread for connection `id`.
            case registered(UInt64)
            /// The forwarder is stopping: close both sockets.
            case rejected
        }

        enum StopAction: Equatable {
            /// `shutdown(2)` these sockets (their pump threads close them).
            case shutdown([Int32])
            /// Already stopped: nothing to do.
            case none
        }

        private(set) var state = State.running(connections: [:])
        private var nextID: UInt64 = 0

        mutating func register(client: Int32, upstream: Int32) -> RegisterAction {
            guard case .running(var connections) = self.state else { return .rejected }
            self.nextID += 1
            connections[self.nextID] = (client, upstream)
            self.state = .running(connections: connections)
            return .registered(self.nextID)
        }

        /// Forgets connection `id` (no-op once stopped: ``stop()`` already forgot it).
        mutating func unregister(_ id: UInt64) {
            guard case .running(var connections) = self.state else { return }
            connections[id] = nil
            self.state = .running(connections: connections)
        }

        mutating func stop() -> StopAction {
            guard case .running(let connections) = self.state else { return .none }
            self.state = .stopped
            return .shutdown(connections.sorted { $0.key < $1.key }.flatMap { [$0.value.client, $0.value.upstream] })
        }
    }
}

// MARK: - Threads

/// Boxes a thread body for `pthread_create`'s `void *` argument.
private final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Starts a POSIX thread running `body`; returns its handle if it is joinable (`detached == false`).
private func startThread(detached: Bool, _ body: @escaping @Sendable () -> Void) throws -> pthread_t? {
    let box = Unmanaged.passRetained(ThreadBody(body))
    #if canImport(Glibc)
    var thread = pthread_t()
    let result = pthread_create(
        &thread,
        nil,
        { argument in
            Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        },
        box.toOpaque()
    )
    #else
    var thread: pthread_t?
    let result = pthread_create(
        &thread,
        nil,
        { argument in
            Unmanaged<ThreadBody>.fromOpaque(argument).takeRetainedValue().body()
            return nil
        },
        box.toOpaque()
    )
    #endif
    guard result == 0 else {
        box.release()  // No thread will consume it.
        throw KafkaError(
            code: .fail,
            message: "pthread_create: \(String(cString: strerror(result)))",
            isRetriable: false
        )
    }
    if detached {
        _ = pthread_detach(thread)
        return nil
    }
    return thread
}

/// `close(2)`, ignoring its result (the descriptor is released either way on Linux and Darwin).
private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}
