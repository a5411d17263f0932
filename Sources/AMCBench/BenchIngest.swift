import ClickLog
import CommandSupport
import Foundation
import Ingest
import Kafka
import Logging
import Model
import Postgres
import Synchronization

/// `amc bench ingest`: end-to-end ingest throughput against a plain COPY ceiling and a reference consumer, and
/// click-to-visible latency at a steady rate — all in one run on the embedded default, or on an external broker.
public struct BenchIngest: Sendable {
    /// An external Kafka broker (bootstrap servers and librdkafka properties) to run on instead of the embedded mock
    /// cluster: the run's topics get a suffix of their own and are created there through the admin API. Default:
    /// nil (the embedded mock cluster).
    public var kafka: KafkaConfig?

    /// Click events in the throughput run.
    public var events = 1_000_000

    /// Distinct queries (Zipf-distributed, exponent 1).
    public var queries = 50_000

    /// Images per query (Zipf-distributed within the query).
    public var imagesPerQuery = 30

    /// Partitions of the benchmark topics.
    public var partitions: Int32 = 8

    /// Most messages the producer may run ahead of what is committed (keeps the mock broker from trimming).
    public var lead = 200_000

    /// Events per second in the latency run.
    public var steadyRate = 20_000

    /// Seconds of the latency run.
    public var steadySeconds = 10

    /// The reference consumer script (python3-confluent-kafka + python3-psycopg2).
    public var referenceScript = "Benchmarks/reference_ingest.py"

    /// Skip the reference consumer.
    public var skipReference = false

    /// The defaults.
    public init() {}

    /// What is wrong with the parameters, or nil when they are usable.
    public var invalidParameters: String? {
        guard events >= 1000, queries >= 1, imagesPerQuery >= 1, partitions >= 1, lead >= 1000, steadyRate >= 1,
            steadySeconds >= 1
        else {
            return "events ≥ 1000, queries ≥ 1, images-per-query ≥ 1, partitions ≥ 1, lead ≥ 1000, steady-rate ≥ 1, "
                + "steady-seconds ≥ 1"
        }
        return nil
    }

    /// Runs the benchmark and prints its figures.
    /// - Parameter migrations: The folder of migrations the benchmark's databases get.
    public func run(migrations: URL) async throws {
        let logger = Logger(label: "amc.bench")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("amc-bench-\(getpid())")
        print("generating \(events) click events over \(queries) Zipf queries × \(imagesPerQuery) images …")
        let workload = BenchWorkload(events: events, queries: queries, imagesPerQuery: imagesPerQuery, seed: 42)
        // On an external broker the topics are this run's own: a fresh database reads its topic from the start.
        let suffix = kafka == nil ? "" : "-\(getpid())-\(Int(Date().timeIntervalSince1970))"
        let topics = ["clicks", "clicks-reference", "clicks-steady"].map { $0 + suffix }
        let partitions = partitions
        let external = kafka
        let stack = try await onBlockingThread {
            try EmbeddedStack(
                directory: root,
                migrations: migrations,
                topics: external == nil ? topics : [],
                partitions: partitions,
                fastUnsafe: false,
                logger: logger
            )
        }
        defer {
            stack.stop()
            try? FileManager.default.removeItem(at: root)
        }
        let kafka = external.map(Self.consumerSettings) ?? KafkaConfig(bootstrapServers: stack.cluster.bootstrapServers)
        if let external {
            try await onBlockingThread {
                let admin = try KafkaAdmin(config: external, logger: logger)
                for topic in topics { try admin.createTopic(topic, partitions: partitions) }
            }
            print("on broker \(external.bootstrapServers), topics \(topics.joined(separator: ", "))")
        }

        // 1. amc ingest, end to end.
        let ingestURL = try await onBlockingThread { try stack.freshDatabase("bench_ingest") }
        let ingest = try await runIngest(
            workload: workload,
            topic: topics[0],
            databaseURL: ingestURL,
            kafka: kafka,
            logger: logger
        )
        let ingestRate = Double(events) / ingest.seconds
        print(
            String(
                format: "amc ingest      %9.0f events/s  (%d events in %.2f s, producer alongside)",
                ingestRate,
                events,
                ingest.seconds
            )
        )
        try await onBlockingThread {
            try Self.verify(databaseURL: ingestURL, expected: workload, logger: logger)
        }
        print("                 verified: every event landed once, no dead letters, no lost offsets, pairs exact")

        // 2. The ceiling: one plain COPY of the same rows into the same table.
        let copyURL = try await onBlockingThread { try stack.freshDatabase("bench_copy") }
        let copySeconds = try await onBlockingThread {
            try Self.copyCeiling(workload: workload, partitions: partitions, databaseURL: copyURL, logger: logger)
        }
        let copyRate = Double(events) / copySeconds
        print(String(format: "plain COPY      %9.0f rows/s    (same rows, same click_events table)", copyRate))

        // 3. The reference consumer.
        var referenceRate = 0.0
        if !skipReference {
            let referenceURL = try await onBlockingThread { try stack.freshDatabase("bench_reference") }
            let seconds = try await runReference(
                workload: workload,
                topic: topics[1],
                databaseURL: referenceURL,
                kafka: kafka,
                logger: logger
            )
            referenceRate = Double(events) / seconds
            print(
                String(
                    format:
                        "reference       %9.0f events/s  (confluent-kafka + psycopg2, batched INSERT … ON CONFLICT)",
                    referenceRate
                )
            )
        }

        // 4. Click → pair visible at a steady rate.
        let steadyURL = try await onBlockingThread { try stack.freshDatabase("bench_latency") }
        let steady = BenchWorkload(
            events: steadyRate * steadySeconds,
            queries: queries,
            imagesPerQuery: imagesPerQuery,
            seed: 7
        )
        let latency = try await runIngest(
            workload: steady,
            topic: topics[2],
            databaseURL: steadyURL,
            kafka: kafka,
            logger: logger,
            rate: steadyRate
        )
        print(
            String(
                format:
                    "visible latency p50 %.0f ms, p99 %.0f ms, max %.0f ms at a steady %d events/s for %d s (target p99 < 1000 ms)",
                latency.p50,
                latency.p99,
                latency.max,
                steadyRate,
                steadySeconds
            )
        )

        let ratio = ingestRate / copyRate
        print(
            String(
                format: "ratio ingest/COPY %.2f (target ≥ 0.5)%@",
                ratio,
                referenceRate > 0 ? String(format: ", ingest/reference %.1f×", ingestRate / referenceRate) : ""
            )
        )
        print(Self.resultLine(ingestRate: ingestRate, copyRate: copyRate, referenceRate: referenceRate))
    }

    /// The machine-readable summary line (a reference rate of 0: the reference was skipped).
    static func resultLine(ingestRate: Double, copyRate: Double, referenceRate: Double) -> String {
        String(
            format: "RESULT ingest_events_per_s=%.0f copy_rows_per_s=%.0f reference_events_per_s=%.0f ratio=%.3f",
            ingestRate,
            copyRate,
            referenceRate,
            ingestRate / copyRate
        )
    }

    // MARK: - Runs

    struct IngestRun {
        var seconds: Double
        var p50 = 0.0
        var p99 = 0.0
        var max = 0.0
    }

    /// Runs an `IngestService` while producing `workload` alongside it (bounded lead, or at `rate`).
    func runIngest(
        workload: BenchWorkload,
        topic: String,
        databaseURL: String,
        kafka: KafkaConfig,
        logger: Logger,
        rate: Int? = nil
    ) async throws -> IngestRun {
        let committed = Mutex(0)
        let latencies = Mutex([Double]())
        var configuration = IngestConfiguration()
        configuration.topics = [topic]
        configuration.groupID = "bench-\(topic)"
        let service = IngestService(
            configuration: configuration,
            kafka: kafka,
            databaseURL: databaseURL,
            logger: logger,
            onProgress: { progress in
                let visibleAt = Double(progress.lastBatchCommittedAt)
                committed.withLock { $0 = progress.events + progress.deadLetters }
                if rate != nil {
                    latencies.withLock { list in
                        for stamp in progress.lastBatchMessageTimestamps { list.append(visibleAt - Double(stamp)) }
                    }
                }
            }
        )
        let task = Task { try await service.run() }
        defer { task.cancel() }
        let partitions = partitions
        let total = workload.count
        let lead = lead
        try await onBlockingThread {
            try Self.waitForAssignment(databaseURL: databaseURL, partitions: Int(partitions), logger: logger)
        }
        let started = ContinuousClock.now
        try await onBlockingThread {
            try Self.produce(
                workload,
                topic: topic,
                kafka: kafka,
                lead: lead,
                rate: rate,
                logger: logger,
                committed: { committed.withLock { $0 } }
            )
            while committed.withLock({ $0 }) < total { Thread.sleep(forTimeInterval: 0.002) }
        }
        let seconds = (ContinuousClock.now - started).seconds
        task.cancel()
        try await task.value
        let latency = LatencySummary(latencies.withLock { $0 })
        return IngestRun(seconds: seconds, p50: latency.p50, p99: latency.p99, max: latency.max)
    }

    /// Runs the Python reference consumer as a child process while producing alongside it.
    private func runReference(
        workload: BenchWorkload,
        topic: String,
        databaseURL: String,
        kafka: KafkaConfig,
        logger: Logger
    ) async throws -> Double {
        guard FileManager.default.fileExists(atPath: referenceScript) else {
            throw CommandError(
                "reference consumer \(referenceScript) not found (run from the repository root, or --skip-reference)"
            )
        }
        let reference = try ReferenceProcess(
            name: "the reference consumer (\(referenceScript): python3-confluent-kafka and python3-psycopg2)",
            executable: "/usr/bin/python3",
            arguments: [
                referenceScript, "--brokers", kafka.bootstrapServers, "--topic", topic, "--group", "bench-reference",
                "--dsn", databaseURL, "--count", "\(workload.count)",
            ],
            standardOutput: FileHandle.nullDevice
        )
        defer { reference.terminate() }
        let lead = lead
        return try await onBlockingThread {
            let connection = try PostgresConnection.connect(databaseURL, logger: logger)
            defer { connection.close() }
            let offsets = IngestSummaryStore(connection: connection)
            func committed() -> Int { (try? offsets.storedOffsets().nextOffsetTotal) ?? 0 }
            // The reference stores offsets only once it has data: give its group time to join first, and stop
            // at once if it dies meanwhile (a missing module): nothing would ever commit.
            let joinBy = ContinuousClock.now + .seconds(4)
            while ContinuousClock.now < joinBy {
                try reference.checkStillRunning()
                Thread.sleep(forTimeInterval: 0.05)
            }
            let started = ContinuousClock.now
            var lastCheck = ContinuousClock.now - .seconds(1)
            var cached = 0
            try Self.produce(
                workload,
                topic: topic,
                kafka: kafka,
                lead: lead,
                rate: nil,
                logger: logger,
                committed: {
                    if ContinuousClock.now - lastCheck > .milliseconds(50) {
                        // The producer waits for commits to catch up: a dead reference never would.
                        try reference.checkStillRunning()
                        cached = committed()
                        lastCheck = .now
                    }
                    return cached
                }
            )
            try reference.waitForSuccess()
            return (ContinuousClock.now - started).seconds
        }
    }

    // MARK: - Blocking helpers

    /// Produces the workload keyed by query, never more than `lead` messages ahead of `committed()`.
    private static func produce(
        _ workload: BenchWorkload,
        topic: String,
        kafka: KafkaConfig,
        lead: Int,
        rate: Int?,
        logger: Logger,
        committed: () throws -> Int
    ) throws {
        let producer = try KafkaProducer(config: kafka, logger: logger)
        let started = ContinuousClock.now
        for index in 0..<workload.count {
            if index % 500 == 0 {
                while try index - committed() > lead {
                    producer.poll()
                    Thread.sleep(forTimeInterval: 0.001)
                }
                if let rate {
                    let wait = started + .seconds(Double(index) / Double(rate)) - .now
                    if wait > .zero { Thread.sleep(forTimeInterval: wait.seconds) }
                }
            }
            let event = workload[index]
            try producer.send(topic: topic, key: event.key, value: event.line)
            if index % 1000 == 0 { producer.poll() }
        }
        try producer.flush(timeout: .seconds(120))
        guard producer.failedCount == 0 else {
            throw CommandError("\(producer.failedCount) benchmark messages were not delivered")
        }
    }

    /// An external broker's settings for the run: the largest fetch answer a client accepts is raised (noida-db
    /// ignores `fetch.max.bytes` and answers with a partition's whole backlog) unless the properties set it.
    static func consumerSettings(_ kafka: KafkaConfig) -> KafkaConfig {
        var kafka = kafka
        kafka.properties.merge(["receive.message.max.bytes": "1000000000"]) { chosen, _ in chosen }
        return kafka
    }

    private static func waitForAssignment(databaseURL: String, partitions: Int, logger: Logger) throws {
        let connection = try PostgresConnection.connect(databaseURL, logger: logger)
        defer { connection.close() }
        let deadline = ContinuousClock.now + .seconds(60)
        let offsets = IngestSummaryStore(connection: connection)
        while try offsets.storedOffsets().partitions < partitions {
            guard ContinuousClock.now < deadline else {
                throw CommandError("ingest did not join the group within 60 s")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Checks the ingest run landed exactly the workload: counts, no dead letters or gaps, and exact pair totals.
    private static func verify(databaseURL: String, expected: BenchWorkload, logger: Logger) throws {
        let connection = try PostgresConnection.connect(databaseURL, logger: logger)
        defer { connection.close() }
        let landed = try IngestSummaryStore(connection: connection).counts()
        let (events, dead, gaps, pairs, clicks) = (
            landed.events, landed.deadLetters, landed.gaps, landed.pairs, landed.clicks
        )
        guard events == expected.count, dead == 0, gaps == 0, pairs == expected.distinctPairs,
            clicks == expected.totalClicks
        else {
            throw CommandError(
                "ingest verification failed: events \(events)/\(expected.count), dead letters \(dead), lost ranges \(gaps), pairs \(pairs)/\(expected.distinctPairs), clicks \(clicks)/\(expected.totalClicks)"
            )
        }
    }

    /// One plain `COPY` of the workload's rows into `click_events` under `topic`; returns its seconds.
    static func copyCeiling(
        workload: BenchWorkload,
        topic: String = "clicks",
        partitions: Int32,
        databaseURL: String,
        logger: Logger
    ) throws -> Double {
        let connection = try PostgresConnection.connect(databaseURL, logger: logger)
        defer { connection.close() }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let started = ContinuousClock.now
        try connection.transaction { connection in
            _ = try connection.copyIn(
                """
                COPY click_events (topic, partition, "offset", query, image, clicks, position, event_time,
                                   session, impressions) FROM STDIN
                """
            ) { writer in
                for index in 0..<workload.count {
                    let event = workload[index]
                    writer.append(topic)
                    writer.append(Int32(index % Int(partitions)))
                    writer.append(Int64(index / Int(partitions)))
                    writer.append(event.query)
                    writer.append(event.image)
                    writer.append(event.clicks)
                    writer.append(nil as String?)
                    writer.append(RFC3339.postgresText(micros: now))
                    writer.append(nil as String?)
                    writer.append(nil as String?)
                    writer.endRow()
                }
            }
        }
        return (ContinuousClock.now - started).seconds
    }
}

/// A deterministic Clickture-style workload: Zipf queries, Zipf images within each query, small click counts.
struct BenchWorkload: Sendable {
    struct Event {
        var query: String
        var image: String
        var clicks: Int32
        var key: [UInt8]
        var line: [UInt8]
    }

    private let queryIndex: [Int32]
    private let imageIndex: [UInt8]
    private let clickCounts: [Int32]
    let distinctPairs: Int
    let totalClicks: Int

    init(events: Int, queries: Int, imagesPerQuery: Int, seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        let querySampler = ZipfSampler(count: queries, exponent: 1.0)
        let imageSampler = ZipfSampler(count: min(imagesPerQuery, 255), exponent: 0.8)
        var queryIndex = [Int32]()
        var imageIndex = [UInt8]()
        var clickCounts = [Int32]()
        queryIndex.reserveCapacity(events)
        imageIndex.reserveCapacity(events)
        clickCounts.reserveCapacity(events)
        var pairs = Set<Int64>()
        var totalClicks = 0
        for _ in 0..<events {
            let q = querySampler.sample(&generator)
            let i = imageSampler.sample(&generator)
            let c = Int32(1 + (generator.next() % 100 < 80 ? 0 : generator.next() % 4))
            queryIndex.append(Int32(q))
            imageIndex.append(UInt8(i))
            clickCounts.append(c)
            pairs.insert(Int64(q) << 8 | Int64(i))
            totalClicks += Int(c)
        }
        self.queryIndex = queryIndex
        self.imageIndex = imageIndex
        self.clickCounts = clickCounts
        self.distinctPairs = pairs.count
        self.totalClicks = totalClicks
    }

    var count: Int { queryIndex.count }

    subscript(index: Int) -> Event {
        let q = Int(queryIndex[index])
        let query = "query \(q) " + Self.words[q % Self.words.count]
        let image = "img\(q)x\(imageIndex[index])AAAAAAAAAA"
        let clicks = clickCounts[index]
        return Event(
            query: query,
            image: image,
            clicks: clicks,
            key: Array(query.utf8),
            line: Array("\(image)\t\(query)\t\(clicks)".utf8)
        )
    }

    private static let words = [
        "snooki baby bump", "golden retriever", "eiffel tower", "red sports car", "wedding dress", "mountain lake",
        "chocolate cake", "concert crowd", "vintage typewriter", "bonsai tree", "northern lights", "cat glasses",
    ]
}
