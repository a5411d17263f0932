import Foundation
import Logging

/// A throwaway local PostgreSQL server for tests and development.
///
/// `start()` runs `initdb` into `<directory>/data` (once), then `pg_ctl start`, listening on a unix socket
/// in `directory` and on `127.0.0.1:port` with trust authentication. The server log is
/// `<directory>/server.log`.
///
/// - Important: PostgreSQL refuses to run as root. When this process is root, `initdb`, `pg_ctl` and the
///   server run as the `postgres` OS user (`runuser -u postgres --`) and `directory` is chowned to it,
///   so every parent of `directory` must be traversable by that user (`/tmp` is; `/root` is not).
/// - Important: The socket path `<directory>/.s.PGSQL.<port>` must stay under 107 bytes; use a short
///   directory such as `/tmp/pg-XXXX`.
///
/// Binaries are taken from `AMC_PG_BINDIR`, else the highest `/usr/lib/postgresql/<version>/bin`, else `PATH`.
///
/// `@unchecked Sendable`: all mutable state (`port`, `isRunning`) is guarded by `lock`, and the
/// methods that run commands hold it, so start/stop/restart never interleave.
public final class LocalPostgresServer: @unchecked Sendable {
    /// How `stop` shuts the server down (`pg_ctl stop -m`).
    public enum StopMode: String, Sendable {
        /// Roll back open transactions and disconnect clients.
        case fast
        /// Abort without a clean shutdown (crash recovery on next start).
        case immediate
    }

    /// The working directory (data directory, socket, logs).
    public let directory: URL
    /// Whether `fsync`, `synchronous_commit` and `full_page_writes` are off (tests only).
    public let fastUnsafe: Bool
    private let logger: Logger
    private let lock = NSRecursiveLock()
    private var chosenPort: Int
    private let portWasRequested: Bool
    private var isRunning = false

    /// Creates a server description; nothing runs until ``start()``.
    /// - Parameters:
    ///   - directory: Where to keep data, socket and logs (created if missing).
    ///   - port: The TCP port on 127.0.0.1; `0` picks a free one.
    ///   - fastUnsafe: Turn off durability settings for speed (tests only).
    ///   - logger: Logs start/stop at info level.
    public init(directory: URL, port: Int = 0, fastUnsafe: Bool = false, logger: Logger) {
        self.directory = directory.standardizedFileURL
        self.fastUnsafe = fastUnsafe
        self.portWasRequested = port != 0
        self.chosenPort = port != 0 ? port : (try? Self.freePort()) ?? 54329
        var logger = logger
        logger[metadataKey: PostgresLoggingKeys.dataDirectory] = "\(directory.path)"
        self.logger = logger
    }

    /// The TCP port on 127.0.0.1 (chosen in `init` when `0` was passed).
    public var port: Int {
        lock.lock()
        defer { lock.unlock() }
        return chosenPort
    }

    /// The superuser URL for a database, e.g. `postgresql://postgres@127.0.0.1:5432/postgres`.
    /// - Parameter database: The database name.
    /// - Returns: The URL (trust authentication, no password).
    public func url(database: String) -> String {
        "postgresql://postgres@127.0.0.1:\(port)/\(database)"
    }

    // MARK: - Lifecycle

    /// Initialises the data directory if needed and starts the server; returns once it accepts connections.
    /// Idempotent.
    /// - Throws: ``LocalPostgresServerError`` with the command output if `initdb` or `pg_ctl` fails.
    public func start() throws {
        lock.lock()
        defer { lock.unlock() }
        guard !isRunning else { return }
        let binaries = try Self.binDirectory()
        try prepareDirectory()
        let dataDirectory = directory.appendingPathComponent("data")
        if !FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
            var arguments = [
                "-D", dataDirectory.path, "--auth=trust", "-U", "postgres", "--encoding=UTF8",
                "--locale=C.UTF-8", "--no-instructions",
            ]
            if fastUnsafe { arguments.append("--no-sync") }
            try runTool(binaries.appendingPathComponent("initdb"), arguments)
        }

        if FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("postmaster.pid").path) {
            // A server left behind by an earlier run that did not stop it (killed, crashed): stop it first so
            // this one owns the folder. A stale pid file with no server makes `pg_ctl stop` fail harmlessly.
            logger.info("stopping a server left running in the data directory")
            try? runTool(
                binaries.appendingPathComponent("pg_ctl"),
                ["-D", dataDirectory.path, "-m", "fast", "-w", "-t", "60", "stop"]
            )
        }

        var attempt = 0
        while true {
            attempt += 1
            let socketPath = directory.path + "/.s.PGSQL.\(chosenPort)"
            guard socketPath.utf8.count < 107 else {
                throw LocalPostgresServerError(
                    message: "socket path \(socketPath) is too long (max 107 bytes); use a shorter directory",
                    output: ""
                )
            }
            var settings = [
                "-c port=\(chosenPort)",
                "-c listen_addresses=127.0.0.1",
                "-c unix_socket_directories='\(directory.path)'",
                "-c max_connections=200",
            ]
            if fastUnsafe {
                settings += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
            }
            do {
                try runTool(
                    binaries.appendingPathComponent("pg_ctl"),
                    [
                        "-D", dataDirectory.path, "-l", directory.appendingPathComponent("server.log").path,
                        "-w", "-t", "60", "-o", settings.joined(separator: " "), "start",
                    ]
                )
                break
            } catch let error as LocalPostgresServerError where !portWasRequested && attempt < 3 {
                // Another process may have taken the free port between choosing and binding it.
                logger.debug(
                    "Postgres server failed to start, retrying on another port",
                    metadata: ["error": "\(error)"]
                )
                chosenPort = try Self.freePort()
            }
        }
        isRunning = true
        logger.info("Postgres server started", metadata: [PostgresLoggingKeys.port: "\(chosenPort)"])
    }

    /// Stops the server (`pg_ctl stop -m fast|immediate`). Does nothing if it is not running.
    /// - Parameter mode: The shutdown mode.
    /// - Throws: ``LocalPostgresServerError`` if `pg_ctl` fails.
    public func stop(mode: StopMode = .fast) throws {
        lock.lock()
        defer { lock.unlock() }
        guard isRunning else { return }
        try runTool(
            try Self.binDirectory().appendingPathComponent("pg_ctl"),
            ["-D", directory.appendingPathComponent("data").path, "-m", mode.rawValue, "-w", "-t", "60", "stop"]
        )
        isRunning = false
        logger.info("Postgres server stopped")
    }

    /// Stops (fast) and starts the server on the same port.
    /// - Throws: ``LocalPostgresServerError``.
    public func restart() throws {
        lock.lock()
        defer { lock.unlock() }
        try stop(mode: .fast)
        try start()
    }

    // MARK: - Databases

    /// Creates a database.
    /// - Parameter name: The name; must match `[a-z0-9_]+`.
    /// - Throws: ``LocalPostgresServerError`` for an invalid name; ``PostgresError``.
    public func createDatabase(_ name: String) throws {
        try Self.validate(databaseName: name)
        let connection = try PostgresConnection.connect(url(database: "postgres"), logger: logger)
        defer { connection.close() }
        try connection.execute(script: "CREATE DATABASE \(name)")
    }

    /// Drops a database if it exists, disconnecting its sessions.
    /// - Parameter name: The name; must match `[a-z0-9_]+`.
    /// - Throws: ``LocalPostgresServerError`` for an invalid name; ``PostgresError``.
    public func dropDatabase(_ name: String) throws {
        try Self.validate(databaseName: name)
        let connection = try PostgresConnection.connect(url(database: "postgres"), logger: logger)
        defer { connection.close() }
        try connection.execute(script: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    static func validate(databaseName name: String) throws {
        let valid =
            !name.isEmpty && name.utf8.count <= 63
            && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
        guard valid else {
            throw LocalPostgresServerError(message: "invalid database name (allowed: [a-z0-9_]+)", output: "")
        }
    }

    // MARK: - Processes

    private static var isRoot: Bool { geteuid() == 0 }

    private func prepareDirectory() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if Self.isRoot {
            try Self.run(URL(fileURLWithPath: "/bin/chown"), ["-R", "postgres:postgres", directory.path], in: nil)
        }
    }

    /// Runs a PostgreSQL tool, as the `postgres` user when this process is root.
    private func runTool(_ tool: URL, _ arguments: [String]) throws {
        if Self.isRoot {
            try Self.run(
                URL(fileURLWithPath: Self.which("runuser") ?? "/usr/sbin/runuser"),
                ["-u", "postgres", "--", tool.path] + arguments,
                in: directory
            )
        } else {
            try Self.run(tool, arguments, in: directory)
        }
    }

    /// Runs a command to completion with its output in a temporary file.
    ///
    /// This uses `posix_spawn` with `closefrom(3)` rather than Foundation's `Process`: `pg_ctl start` leaves
    /// the server running in the background, and the server would inherit `Process`'s internal monitoring
    /// socket, so `waitUntilExit()` would never return.
    private static func run(_ executable: URL, _ arguments: [String], in workingDirectory: URL?) throws {
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("amc-pg-\(UUID().uuidString).out").path
        let output = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else {
            throw LocalPostgresServerError(message: "cannot create \(outputPath): errno \(errno)", output: "")
        }
        defer {
            close(output)
            unlink(outputPath)
        }

        // `env -C` changes directory in the child (posix_spawn_file_actions_addchdir_np is not imported).
        var command = [executable.path] + arguments
        if let workingDirectory {
            command = ["/usr/bin/env", "-C", workingDirectory.path] + command
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        // Close every other inherited descriptor (closefrom is not imported either). glibc ignores
        // EBADF for descriptors closed meanwhile by other threads.
        let openDescriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in openDescriptors.compactMap({ Int32($0) }) where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }

        var processID = pid_t()
        let spawnResult = withCStringArray(command) { argv in
            var mutableArgv = argv.map { $0.map { UnsafeMutablePointer(mutating: $0) } }
            return mutableArgv.withUnsafeMutableBufferPointer { buffer in
                posix_spawn(&processID, command[0], &actions, nil, buffer.baseAddress!, environ)
            }
        }
        guard spawnResult == 0 else {
            throw LocalPostgresServerError(
                message: "cannot run \(executable.path): \(String(cString: strerror(spawnResult)))",
                output: ""
            )
        }
        var status: Int32 = 0
        while waitpid(processID, &status, 0) < 0 {
            guard errno == EINTR else {
                throw LocalPostgresServerError(message: "waitpid failed: errno \(errno)", output: "")
            }
        }
        // WIFEXITED / WEXITSTATUS are macros Swift does not import.
        let exited = status & 0x7F == 0
        let exitCode = (status >> 8) & 0xFF
        guard exited, exitCode == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw LocalPostgresServerError(
                message: "\(executable.lastPathComponent) \(arguments.joined(separator: " ")) "
                    + (exited ? "exited with status \(exitCode)" : "was killed by signal \(status & 0x7F)"),
                output: text
            )
        }
    }

    /// `AMC_PG_BINDIR`, else the highest `/usr/lib/postgresql/<n>/bin`, else the directory of `pg_ctl` on PATH.
    static func binDirectory() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let configured = environment["AMC_PG_BINDIR"], !configured.isEmpty {
            return URL(fileURLWithPath: configured)
        }
        let root = "/usr/lib/postgresql"
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: root) {
            let best = versions.compactMap { Int($0) }.sorted().last { version in
                FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/pg_ctl")
            }
            if let best { return URL(fileURLWithPath: "\(root)/\(best)/bin") }
        }
        if let pgCtl = which("pg_ctl") {
            return URL(fileURLWithPath: pgCtl).deletingLastPathComponent()
        }
        throw LocalPostgresServerError(
            message: "PostgreSQL binaries not found (set AMC_PG_BINDIR or install postgresql)",
            output: ""
        )
    }

    private static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/sbin", "/sbin"] {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Asks the kernel for a free TCP port on 127.0.0.1.
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else {
            throw LocalPostgresServerError(message: "socket() failed: errno \(errno)", output: "")
        }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0
                    && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else {
            throw LocalPostgresServerError(message: "bind() failed: errno \(errno)", output: "")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A ``LocalPostgresServer`` command failed.
public struct LocalPostgresServerError: Error, CustomStringConvertible, Sendable {
    /// What failed.
    public var message: String
    /// The command's combined stdout/stderr.
    public var output: String

    /// The message followed by the command output.
    public var description: String {
        output.isEmpty ? "LocalPostgresServerError: \(message)" : "LocalPostgresServerError: \(message)\n\(output)"
    }
}
