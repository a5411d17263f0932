import CommandSupport
import Foundation
import Kafka
import Learning
import Logging
import Model
import Postgres
import Registry
import Simulation

/// `amc bench scale`: how the costs grow with the catalog and the event tables — for each catalog size, catalog
/// import lines/s and a scoring worker (`amc serve`, a child process, so its memory is its own): RSS, time to
/// `/readyz`, a swap to a version whose image encoders differ (re-encoding), p50/p99 for 100 hot and 100 cold
/// candidates; for each pre-filled `click_events` size, ingest events/s against a plain `COPY` into that table.
public struct BenchScale: Sendable {
    /// Catalog sizes (images).
    public var sizes = [10_000, 100_000, 1_000_000]

    /// Sizes of the pre-filled `click_events` tables ingest runs into.
    public var tableEvents = [1_000_000, 10_000_000]

    /// Click events ingested (and then copied) into each pre-filled table.
    public var ingestEvents = 1_000_000

    /// Region cells per image (R); D is the model's.
    public var regions = 16

    /// Keywords per image on average (± 4).
    public var keywords = 30

    /// Measured requests per latency figure (hot and cold each), after 50 unmeasured ones.
    public var requests = 1000

    /// The worker's `serve.catalog-memory` (`4GiB`, bytes, `unlimited`); nil: the worker's own setting.
    public var catalogMemory: String?

    /// Where to write the SVG plot; nil: no plot.
    public var plot: String?

    /// The `amc` binary the worker and the import run as (a release build for real figures).
    public var executable = "amc"

    /// Longest wait for the worker to become ready, or for a swap to be served.
    public var timeout: Duration = .seconds(3600)

    /// Partitions of the ingest topics.
    public var partitions: Int32 = 8

    /// The catalog's and the workload's seed.
    public var seed: UInt64 = 42

    /// The defaults.
    public init() {}

    /// What is wrong with the parameters, or nil when they are usable.
    public var invalidParameters: String? {
        guard !sizes.isEmpty || !tableEvents.isEmpty, sizes.allSatisfy({ $0 >= 100 }),
            tableEvents.allSatisfy({ $0 >= 0 }), ingestEvents >= 1000, regions >= 1, keywords >= 1, requests >= 1,
            partitions >= 1
        else {
            return "sizes ≥ 100 (or none when events are given), events ≥ 0, ingest-events ≥ 1000, regions ≥ 1, "
                + "keywords ≥ 1, requests ≥ 1, partitions ≥ 1"
        }
        return nil
    }

    /// Runs the benchmark, prints its table and result line, and writes the plot.
    /// - Parameter migrations: The folder of migrations the benchmark's databases get.
    public func run(migrations: URL) async throws {
        let logger = Logger(label: "amc.bench")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("amc-bench-scale-\(getpid())")
        let topics = tableEvents.map { "scale-ingest-\($0)" }
        let partitions = partitions
        let stack = try await onBlockingThread {
            try EmbeddedStack(
                directory: root.appendingPathComponent("postgres"),
                migrations: migrations,
                topics: topics,
                partitions: partitions,
                fastUnsafe: false,
                logger: logger
            )
        }
        defer {
            stack.stop()
            try? FileManager.default.removeItem(at: root)
        }
        print("worker and import: \(executable); catalog memory: \(catalogMemory ?? "the worker's setting")")
        var report = ScaleReport()
        for size in sizes {
            report.catalogs.append(try await measureCatalog(size: size, stack: stack, root: root, logger: logger))
        }
        for (events, topic) in zip(tableEvents, topics) {
            report.ingests.append(
                try await measureIngest(tableEvents: events, topic: topic, stack: stack, logger: logger)
            )
        }
        print("")
        print(report.table())
        if let plot {
            let url = URL(fileURLWithPath: plot)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try Data(report.plot().svg().utf8).write(to: url)
            print("plot written to \(plot)")
        }
        print(report.resultLine())
    }

    // MARK: - Catalog and worker

    private func measureCatalog(
        size: Int,
        stack: EmbeddedStack,
        root: URL,
        logger: Logger
    ) async throws -> ScaleCatalogFigures {
        var figures = ScaleCatalogFigures(images: size)
        let catalog = SyntheticCatalog(
            count: size,
            regions: regions,
            dimension: ModelConfiguration().regionDimension,
            keywords: keywords,
            seed: seed
        )
        let database = "scale_catalog_\(size)"
        let url = try await onBlockingThread { try stack.freshDatabase(database) }
        defer { try? stack.postgres.dropDatabase(database) }

        // Catalog import: the generated file through `amc catalog import`.
        let file = root.appendingPathComponent("catalog-\(size).jsonl")
        try await onBlockingThread { try Self.write(catalog, to: file) }
        defer { try? FileManager.default.removeItem(at: file) }
        let environment = ["AMC_DATABASE_URL": url]
        let executable = executable
        let importSeconds = try await onBlockingThread {
            let started = ContinuousClock.now
            let importer = try ReferenceProcess(
                name: "amc catalog import",
                executable: executable,
                arguments: ["catalog", "import", file.path],
                standardOutput: FileHandle.nullDevice,
                environment: environment
            )
            try importer.waitForSuccess()
            return (ContinuousClock.now - started).seconds
        }
        figures.importLinesPerSecond = Double(size) / importSeconds
        print(
            String(
                format: "%8d images: import %.0f lines/s (%.1f s)",
                size,
                figures.importLinesPerSecond,
                importSeconds
            )
        )

        // Two bootstrap versions: the first served, the second with other image encoders (a swap re-encodes).
        let seed = seed
        let (first, second) = try await onBlockingThread {
            try Self.insertVersions(url, seed: seed, logger: logger)
        }

        // The worker, a child process.
        let port = try Self.freePort()
        var serveEnvironment = environment
        if let catalogMemory { serveEnvironment["AMC_SERVE_CATALOG_MEMORY"] = catalogMemory }
        let started = ContinuousClock.now
        let worker = try ReferenceProcess(
            name: "the scoring worker (amc serve)",
            executable: executable,
            arguments: ["serve", "--port", "\(port)", "--log-level", "warning"],
            standardOutput: FileHandle.nullDevice,
            environment: serveEnvironment
        )
        defer { worker.terminate() }
        let timeout = timeout
        try await onBlockingThread {
            try Self.waitForVersion(first, port: port, worker: worker, timeout: timeout)
        }
        figures.readySeconds = (ContinuousClock.now - started).seconds
        let ready = ProcessMemory.read(pid: worker.processIdentifier)
        figures.residentBytesReady = ready?.residentBytes ?? 0

        // Scoring: 100 hot candidates (the same every request), then 100 cold ones (random over the catalog).
        let requests = requests
        let hotCandidates = catalog.candidates(0, count: min(100, size)).map(catalog.key)
        figures.hot = try await onBlockingThread {
            try Self.scoreRequests(port: port, count: requests) { index in
                (catalog.query(index), hotCandidates)
            }
        }
        figures.cold = try await onBlockingThread {
            try Self.scoreRequests(port: port, count: requests) { index in
                (catalog.query(index), catalog.candidates(1 + index, count: min(100, size)).map(catalog.key))
            }
        }

        // The swap to the second version: activation committed → served.
        figures.swapSeconds = try await onBlockingThread {
            let connection = try PostgresConnection.connect(url, logger: logger)
            defer { connection.close() }
            _ = try connection.transaction { connection in
                try ModelRegistry(connection: connection).activate(second, actor: "amc bench scale", reason: "swap")
            }
            let swapStarted = ContinuousClock.now
            try Self.waitForVersion(second, port: port, worker: worker, timeout: timeout)
            return (ContinuousClock.now - swapStarted).seconds
        }
        figures.peakResidentBytes = ProcessMemory.read(pid: worker.processIdentifier)?.peakResidentBytes ?? 0
        worker.stop()
        print(
            String(
                format:
                    "%8d images: ready in %.1f s at %.2f GB RSS; hot p50 %.2f / p99 %.2f ms, cold p50 %.2f / p99 %.2f ms; swap %.1f s; peak %.2f GB",
                size,
                figures.readySeconds,
                Double(figures.residentBytesReady) / 1e9,
                figures.hot.p50,
                figures.hot.p99,
                figures.cold.p50,
                figures.cold.p99,
                figures.swapSeconds,
                Double(figures.peakResidentBytes) / 1e9
            )
        )
        return figures
    }

    /// Writes the catalog's lines to `file`, streamed in chunks.
    private static func write(_ catalog: SyntheticCatalog, to file: URL) throws {
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        var chunk = ""
        for index in 0..<catalog.count {
            chunk += catalog.line(index)
            if index % 1000 == 999 {
                try handle.write(contentsOf: Data(chunk.utf8))
                chunk = ""
            }
        }
        try handle.write(contentsOf: Data(chunk.utf8))
    }

    /// Inserts two bootstrap versions of different seeds and activates the first.
    private static func insertVersions(_ url: String, seed: UInt64, logger: Logger) throws -> (Int64, Int64) {
        let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        let configuration = ModelConfiguration()
        return try connection.transaction { connection in
            let registry = ModelRegistry(connection: connection)
            let watermark = try PairStore(connection: connection).currentWatermark()
            let versions = try [seed, seed &+ 1].map { versionSeed in
                try registry.insert(
                    try BenchScore.benchVersion(
                        kind: .bootstrap,
                        parent: nil,
                        parameters: AMCWeights(configuration: configuration, seed: versionSeed).parameters,
                        watermark: watermark,
                        seed: versionSeed
                    )
                )
            }
            _ = try registry.activate(versions[0], actor: "amc bench scale", reason: "benchmark setup")
            return (versions[0], versions[1])
        }
    }

    /// Polls `GET /readyz` until the worker answers 200 for `version`.
    private static func waitForVersion(
        _ version: Int64,
        port: Int,
        worker: ReferenceProcess,
        timeout: Duration
    ) throws {
        let deadline = ContinuousClock.now + timeout
        let request = Array("GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        while true {
            try worker.checkStillRunning()
            if let response = try? LoopbackHTTPConnection(port: port).roundTrip(request), response.status == 200,
                response.bodyVersion == version
            {
                return
            }
            guard ContinuousClock.now < deadline else {
                throw CommandError("the worker did not serve version \(version) within \(timeout)")
            }
            Thread.sleep(forTimeInterval: 0.005)
        }
    }

    /// Sends 50 unmeasured then `count` measured `POST /v1/score` requests, one at a time on one connection.
    /// - Throws: ``CommandError`` when a request fails or an image is unknown (the import went wrong).
    private static func scoreRequests(
        port: Int,
        count: Int,
        request: (Int) -> (query: String, images: [String])
    ) throws -> LatencySummary {
        let connection = try LoopbackHTTPConnection(port: port)
        var timings: [Double] = []
        timings.reserveCapacity(count)
        for index in 0..<(50 + count) {
            let (query, images) = request(index)
            let body = try JSONSerialization.data(withJSONObject: ["query": query, "images": images])
            let bytes =
                Array(
                    ("POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: \(body.count)\r\n\r\n").utf8
                ) + Array(body)
            let started = ContinuousClock.now
            let response = try connection.roundTrip(bytes)
            let elapsed = (ContinuousClock.now - started).seconds * 1000
            guard response.status == 200, !Self.hasUnknownImages(response.body) else {
                throw CommandError(
                    "scoring failed (\(response.status)): \(String(decoding: response.body.prefix(300), as: UTF8.self))"
                )
            }
            if index >= 50 { timings.append(elapsed) }
        }
        return LatencySummary(timings)
    }

    /// Whether a scoring answer lists unknown images (`"unknown_images":[` followed by anything but `]`).
    static func hasUnknownImages(_ body: [UInt8]) -> Bool {
        let text = String(decoding: body, as: UTF8.self)
        guard let range = text.range(of: "\"unknown_images\":[") else { return false }
        return text[range.upperBound...].first != "]"
    }

    /// A free TCP port on loopback (bound, read, released).
    static func freePort() throws -> Int {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw CommandError("socket: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw CommandError("cannot find a free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    // MARK: - Ingest into a full table

    private func measureIngest(
        tableEvents: Int,
        topic: String,
        stack: EmbeddedStack,
        logger: Logger
    ) async throws -> ScaleIngestFigures {
        let database = "scale_ingest_\(tableEvents)"
        let url = try await onBlockingThread { try stack.freshDatabase(database) }
        defer { try? stack.postgres.dropDatabase(database) }
        let partitions = partitions
        let fillSeconds = try await onBlockingThread {
            let connection = try PostgresConnection.connect(url, logger: logger)
            defer { connection.close() }
            let started = ContinuousClock.now
            try ScaleFillStore(connection: connection).fill(
                events: tableEvents,
                topic: "prefill",
                partitions: Int(partitions)
            )
            return (ContinuousClock.now - started).seconds
        }
        print(String(format: "%8d events pre-filled in %.1f s", tableEvents, fillSeconds))
        var ingest = BenchIngest()
        ingest.events = ingestEvents
        ingest.partitions = partitions
        let workload = BenchWorkload(events: ingestEvents, queries: 50_000, imagesPerQuery: 30, seed: seed)
        let run = try await ingest.runIngest(
            workload: workload,
            topic: topic,
            databaseURL: url,
            kafka: KafkaConfig(bootstrapServers: stack.cluster.bootstrapServers),
            logger: logger
        )
        let copySeconds = try await onBlockingThread {
            try BenchIngest.copyCeiling(
                workload: workload,
                topic: "scale-copy",
                partitions: partitions,
                databaseURL: url,
                logger: logger
            )
        }
        var figures = ScaleIngestFigures(tableEvents: tableEvents)
        figures.ingestEventsPerSecond = Double(ingestEvents) / run.seconds
        figures.copyRowsPerSecond = Double(ingestEvents) / copySeconds
        print(
            String(
                format: "%8d events already: amc ingest %.0f events/s, plain COPY %.0f rows/s, ratio %.2f",
                tableEvents,
                figures.ingestEventsPerSecond,
                figures.copyRowsPerSecond,
                figures.ratio
            )
        )
        return figures
    }
}
