import Foundation
import Kafka
import Logging
import Synchronization

/// A Kafka broker the exactly-once tests run against.
public enum BrokerKind: String, CaseIterable, Sendable, CustomStringConvertible {
    /// librdkafka's in-process mock cluster (``MockKafkaCluster``).
    case mock
    /// noida-db, an independent Kafka-protocol broker: a process of its own, started from `AMC_TEST_NOIDA_DB`.
    case noida

    public var description: String { rawValue }

    /// The kinds a broker-parameterised test runs on: always the mock cluster, and noida-db when
    /// `AMC_TEST_NOIDA_DB` names its binary (the test command always sets it) or when running in CI (where a missing
    /// binary fails the noida-db cases instead of leaving them out). Elsewhere a message says they were left out.
    public static let available: [BrokerKind] = {
        if NoidaBroker.executable != nil || ProcessInfo.processInfo.environment["CI"] != nil { return [.mock, .noida] }
        FileHandle.standardError.write(
            Data(
                """
                note: AMC_TEST_NOIDA_DB is not set: the exactly-once tests run on librdkafka's mock cluster only \
                (bash Deploy/local/test.sh installs noida-db and runs them on both brokers)

                """.utf8
            )
        )
        return [.mock]
    }()
}

/// A broker started for one test: the mock cluster, or a private noida-db process on a free port with its own data
/// directory, so a test can stop and restart it without disturbing others.
public final class TestBroker: Sendable {
    public let kind: BrokerKind
    private let mock: MockKafkaCluster?
    private let noida: NoidaBroker?

    /// The `host:port` list clients bootstrap from; it stays the same across ``stop()`` and ``start()``.
    public var bootstrapServers: String { mock?.bootstrapServers ?? noida!.bootstrapServers }

    /// Starts a broker of `kind`.
    /// - Throws: ``TestFailure`` when noida-db is wanted but `AMC_TEST_NOIDA_DB` is not set or it does not start.
    public init(_ kind: BrokerKind) throws {
        self.kind = kind
        switch kind {
        case .mock:
            mock = try MockKafkaCluster(brokers: 1, logger: testLogger)
            noida = nil
        case .noida:
            mock = nil
            noida = try NoidaBroker()
        }
    }

    /// Creates `name` with `partitions` partitions: through the mock's own call (it has no CreateTopics handler), or
    /// through the admin API with `retention.ms=-1` (old event timestamps must not be deleted on arrival).
    public func createTopic(_ name: String, partitions: Int32) throws {
        if let mock {
            try mock.createTopic(name, partitions: partitions)
            return
        }
        let admin = try KafkaAdmin(config: KafkaConfig(bootstrapServers: bootstrapServers), logger: testLogger)
        try admin.createTopic(name, partitions: partitions, config: ["retention.ms": "-1"])
    }

    /// Consumer properties this broker needs: on noida-db, which ignores `fetch.max.bytes`, a fetch answer may hold
    /// a whole backlog, so the largest response a client accepts is raised.
    public var consumerProperties: [String: String] {
        kind == .noida ? ["receive.message.max.bytes": "1000000000"] : [:]
    }

    /// Takes the broker away mid-stream: the mock refuses connections, the noida-db process stops (SIGTERM).
    public func stop() throws {
        if let mock { try mock.setBrokerDown(1) } else { noida!.stop() }
    }

    /// Brings the broker back on the same address (noida-db with the same data directory).
    public func start() throws {
        if let mock { try mock.setBrokerUp(1) } else { try noida!.start() }
    }
}

/// A noida-db process (`noida-db start --only kafka`), listening on a free 127.0.0.1 port with a data directory of
/// its own; stopped with SIGTERM by `deinit` and its directory removed.
final class NoidaBroker: Sendable {
    /// The binary the test command installed (`AMC_TEST_NOIDA_DB`), if any.
    static var executable: String? {
        ProcessInfo.processInfo.environment["AMC_TEST_NOIDA_DB"].flatMap { $0.isEmpty ? nil : $0 }
    }

    let port: Int
    let directory: URL
    private let pid = Mutex<pid_t?>(nil)

    var bootstrapServers: String { "127.0.0.1:\(port)" }

    init() throws {
        guard Self.executable != nil else {
            throw TestFailure("AMC_TEST_NOIDA_DB is not set: run the tests through bash Deploy/local/test.sh")
        }
        port = try freeLocalPort()
        directory = URL(fileURLWithPath: "/tmp/amc-noida-\(getpid())-\(port)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts the process and waits until it accepts connections.
    func start() throws {
        let log = directory.appendingPathComponent("noida.log").path
        let child = try spawnWithDefaultSignals(
            Self.executable!,
            arguments: [
                "start", "--only", "kafka", "--kafka-port", "\(port)", "--data-dir",
                directory.appendingPathComponent("data").path,
            ],
            log: log
        )
        pid.withLock { $0 = child }
        let listening = try eventually(timeout: .seconds(60)) {
            acceptsConnections(port: port) || waitpid(child, nil, WNOHANG) != 0
        }
        guard listening, acceptsConnections(port: port) else {
            stop()
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw TestFailure("noida-db did not start on port \(port): \(text)")
        }
    }

    /// Stops the process with SIGTERM and waits for it to exit (data and committed offsets stay on disk); SIGKILL
    /// if it has not exited within a minute.
    func stop() {
        let running = pid.withLock { pid in
            defer { pid = nil }
            return pid
        }
        guard let child = running else { return }
        kill(child, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(60)
        while waitpid(child, nil, WNOHANG) == 0 {
            if ContinuousClock.now > deadline {
                kill(child, SIGKILL)
                waitpid(child, nil, 0)
                return
            }
            usleep(20_000)
        }
    }
}

/// Starts `path` with `arguments`, its output appended to `log`, with no signal blocked and SIGTERM and SIGINT at
/// their default action. (Foundation's `Process` passes on the spawning thread's signal mask, and the threads of a
/// test process block SIGTERM, so a child started that way would ignore it.)
func spawnWithDefaultSignals(_ path: String, arguments: [String], log: String) throws -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var unblocked = sigset_t()
    sigemptyset(&unblocked)
    posix_spawnattr_setsigmask(&attributes, &unblocked)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGTERM)
    sigaddset(&defaults, SIGINT)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)

    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer {
        for argument in argv { free(argument) }
    }
    var child: pid_t = 0
    let result = posix_spawn(&child, path, &actions, &attributes, argv, environ)
    guard result == 0 else { throw TestFailure("cannot start \(path): error \(result)") }
    return child
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice of an ephemeral port).
func freeLocalPort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw TestFailure("socket: errno \(errno)") }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
        }
    }
    guard bound else { throw TestFailure("bind: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func acceptsConnections(port: Int) -> Bool {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { return false }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}
