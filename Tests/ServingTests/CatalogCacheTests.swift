import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LearningTestSupport
import Model
import Postgres
import Simulation
import TestSupport
import Testing

@testable import Serving

/// The encoded catalog under a memory budget (`serve.catalog-memory`): a cache of encodings, least recently scored
/// images evicted, a request's misses read from PostgreSQL in one query and encoded.
@Suite struct CatalogCacheTests {
    /// Pure bookkeeping: the least recently used image goes first, a use makes an image the most recent, and the
    /// bytes never exceed the budget after an insertion.
    @Test func residentImagesEvictTheLeastRecentlyUsedWithinTheBudget() throws {
        var configuration = ModelConfiguration()
        configuration.hashBuckets = 64
        configuration.regionDimension = 4
        let model = AMCModel(weights: AMCWeights(configuration: configuration, seed: 1))
        let encoded = model.encodeImages(
            (0..<6).map { index in
                ImageFeatures(regions: [Float](repeating: Float(index), count: 8), regionCount: 2, keywords: [])
            }
        )
        let size = encoded[0].byteCount
        #expect(encoded.allSatisfy { $0.byteCount == size })
        var resident = ResidentImages()
        for index in 0..<3 {
            let evicted = resident.insert("k\(index)", .init(image: encoded[index], keywords: []), budget: 3 * size)
            #expect(evicted == 0)
        }
        #expect(resident.keysByRecency == ["k2", "k1", "k0"])
        #expect(resident.use("k0") != nil)
        #expect(resident.keysByRecency == ["k0", "k2", "k1"])
        #expect(resident.insert("k3", .init(image: encoded[3], keywords: []), budget: 3 * size) == 1)
        #expect(resident.keysByRecency == ["k3", "k0", "k2"])
        #expect(resident.peek("k1") == nil && resident.bytes == 3 * size)
        // Inserting a resident key only makes it the most recent.
        #expect(resident.insert("k2", .init(image: encoded[2], keywords: []), budget: 3 * size) == 0)
        #expect(resident.keysByRecency == ["k2", "k3", "k0"])
        // A smaller budget evicts down to it.
        #expect(resident.insert("k4", .init(image: encoded[4], keywords: []), budget: 2 * size) == 2)
        #expect(resident.keysByRecency == ["k4", "k2"] && resident.bytes == 2 * size && resident.count == 2)
    }

    /// A request for images that are not resident reads and encodes them (counted as misses); after other requests
    /// evicted them, the same request refills them and gets the same scores bit for bit — the scores of the
    /// catalog with every image resident — while the resident bytes stay within the budget throughout.
    @Test func evictionAndRefillGiveBitIdenticalScoresWithinTheBudget() async throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: false)
        let model = try fixture.scoringModel(version)
        let connection = try fixture.connect()
        defer { connection.close() }
        let complete = try Self.everyImage(model, connection)
        #expect(complete.residentCount == fixture.world.images.count)
        let budget = 20 * complete.residentBytes / complete.count
        let metrics = ServingMetrics()
        let reader = CatalogReader(url: DatabaseURL(fixture.url), logger: testLogger)
        let cache = try EncodedCatalog.load(
            from: connection,
            model: model,
            precision: .float16,
            budget: budget,
            reader: reader,
            metrics: metrics
        )
        #expect(cache.count == fixture.world.images.count)
        #expect(cache.residentBytes <= budget)
        #expect(cache.residentCount > 0 && cache.residentCount < cache.count)
        let served = Self.served(model, cache)
        let everything = Self.served(model, complete)
        let query = fixture.world.trainingQueries[0].text

        let cold = fixture.world.images.map(\.key).filter { cache[$0] == nil }
        let first = Array(cold.prefix(10))
        let before = try await served.score(query: query, images: first + ["no-such-image"], top: nil)
        #expect(before.results.count == 10 && before.unknownImages == ["no-such-image"])
        #expect(Self.value("amc_serve_catalog_cache_misses_total", metrics) == 10)
        #expect(Self.value("amc_serve_catalog_cache_hits_total", metrics) == 0)
        #expect(cache.residentBytes <= budget)
        let expected = try await everything.score(query: query, images: first, top: nil)
        #expect(Self.bits(before) == Self.bits(expected))

        // Forty other images push the first ten out.
        let others = Array(cold.dropFirst(10).prefix(40))
        _ = try await served.score(query: query, images: others, top: nil)
        #expect(first.allSatisfy { cache[$0] == nil }, "the first request's images were evicted")
        #expect(Self.value("amc_serve_catalog_cache_evictions_total", metrics) >= 10)
        #expect(cache.residentBytes <= budget)
        #expect(Self.value("amc_serve_catalog_cache_bytes", metrics) == Double(cache.residentBytes))

        let after = try await served.score(query: query, images: first, top: nil)
        #expect(Self.bits(after) == Self.bits(before))
        #expect(Self.value("amc_serve_catalog_cache_misses_total", metrics) == 60)
        // Now resident: the same request again is all hits.
        _ = try await served.score(query: query, images: first, top: nil)
        #expect(Self.value("amc_serve_catalog_cache_hits_total", metrics) == 10)
        #expect(Self.value("amc_serve_catalog_cache_misses_total", metrics) == 60)
        #expect(cache.residentBytes <= budget)
    }

    /// Loading under a budget reads pages only until one fills the budget: the images it encodes are the resident
    /// ones plus at most one page's worth evicted, not the whole catalog encoded and evicted.
    @Test func loadingUnderABudgetStopsAtThePageThatFillsIt() throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: false)
        let model = try fixture.scoringModel(version)
        let connection = try fixture.connect()
        defer { connection.close() }
        let complete = try Self.everyImage(model, connection)
        let pageSize = 10
        #expect(complete.count > 10 * pageSize, "the catalog spans many pages")
        let budget = 25 * complete.residentBytes / complete.count
        let metrics = ServingMetrics()
        let cache = try EncodedCatalog.load(
            from: connection,
            model: model,
            precision: .float16,
            budget: budget,
            reader: nil,
            metrics: metrics,
            pageSize: pageSize
        )
        let evicted = Self.value("amc_serve_catalog_cache_evictions_total", metrics)
        #expect(evicted > 0, "a page filled the budget")
        #expect(evicted <= Double(pageSize), "no page was read after the one that filled the budget")
        #expect(cache.residentCount > 0 && cache.residentBytes <= budget)
    }

    /// Twelve concurrent requests, each missing images of its own, share at most two connections (the others wait
    /// for one) and each gets the scores of the catalog with every image resident.
    @Test func concurrentMissesShareTheReadersBoundedConnections() async throws {
        let cold = try Self.coldCache(metrics: nil)
        defer { cold.connection.close() }
        let (fixture, model, connection, complete, reader) = (
            cold.fixture, cold.model, cold.connection, cold.complete, cold.reader
        )
        let served = Self.served(model, cold.cache)
        let everything = Self.served(model, complete)
        let query = fixture.world.trainingQueries[3].text
        let keys = fixture.world.images.map(\.key)
        let groups = (0..<12).map { group in Array(keys[(group * 8)..<(group * 8 + 8)]) }
        let answers = try await withThrowingTaskGroup(of: (Int, [String]).self) { tasks in
            for (index, group) in groups.enumerated() {
                tasks.addTask { (index, Self.bits(try await served.score(query: query, images: group, top: nil))) }
            }
            var answers: [Int: [String]] = [:]
            for try await (index, bits) in tasks { answers[index] = bits }
            return answers
        }
        for (index, group) in groups.enumerated() {
            let expected = try await everything.score(query: query, images: group, top: nil)
            #expect(answers[index] == Self.bits(expected), "request \(index)")
            #expect(answers[index]?.count == 8)
        }
        #expect(reader.openConnections <= 2 && reader.openConnections >= 1)
        let sessions = try connection.query(
            """
            SELECT count(*)::int FROM pg_stat_activity
            WHERE application_name = 'amc serve catalog' AND datname = current_database()
            """
        )
        #expect(try sessions[0].decode(Int.self, column: 0) <= 2)
    }

    /// Requests that miss the same images while one read of them is in flight wait for that read instead of each
    /// reading them again (a cold cache under load reads every image once), and get the same bits.
    @Test func concurrentMissesOfTheSameImagesReadThemOnce() async throws {
        let metrics = ServingMetrics()
        // Nothing stays resident, so every request misses every image.
        let cold = try Self.coldCache(metrics: metrics)
        defer { cold.connection.close() }
        let (fixture, model, complete, reader) = (cold.fixture, cold.model, cold.complete, cold.reader)
        let served = Self.served(model, cold.cache)
        let query = fixture.world.trainingQueries[5].text
        let keys = Array(fixture.world.images.suffix(8).map(\.key))
        let before = reader.reads
        let missesBefore = Self.value("amc_serve_catalog_cache_misses_total", metrics)

        // The first read waits on a lock held here until every request has missed, so all of them overlap it.
        let blocker = try fixture.connect()
        defer { blocker.close() }
        try blocker.execute(script: "BEGIN; LOCK TABLE images IN ACCESS EXCLUSIVE MODE")
        let requests = 6
        // The requests run on the blocking executor's threads: on a loaded box the cooperative pool can be busy with
        // other tests' work for minutes, and every request must reach its miss while the lock is held.
        let answers = Task {
            try await withThrowingTaskGroup(of: [String].self) { tasks in
                for _ in 0..<requests {
                    tasks.addTask(executorPreference: BlockingExecutor.shared) {
                        Self.bits(try await served.score(query: query, images: keys, top: nil))
                    }
                }
                return try await tasks.reduce(into: []) { $0.append($1) }
            }
        }
        let allMissed = try await blocking {
            try eventually(timeout: .seconds(180)) {
                Self.value("amc_serve_catalog_cache_misses_total", metrics) - missesBefore
                    >= Double(requests * keys.count)
            }
        }
        try blocker.execute(script: "ROLLBACK")
        let results = try await answers.value
        #expect(allMissed, "every request missed while the first read waited")
        #expect(reader.reads - before == 1, "one read for six requests missing the same images")
        let expected = Self.bits(try await Self.served(model, complete).score(query: query, images: keys, top: nil))
        #expect(results.count == requests)
        #expect(results.allSatisfy { $0 == expected })
    }

    /// A worker configured with `serve.catalog-memory` serves images beyond its budget over HTTP, shows the budget and
    /// its misses in `/metrics`, and answers as a worker with every image resident.
    @Test func aWorkerUnderABudgetScoresImagesBeyondItAsOneWithoutABudget() async throws {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: true)
        var limited = testConfiguration()
        limited.catalogEncoding = .float16
        limited.catalogMemory = 4096
        var unlimited = limited
        unlimited.catalogMemory = nil
        let keys = fixture.world.images.map(\.key)
        let query = fixture.world.trainingQueries[2].text
        var answers: [[String]] = []
        for configuration in [limited, unlimited] {
            let (holder, metrics, app) = scoringWorker(fixture, configuration)
            let answer = try await app.test(.router) { client in
                #expect(try await eventually(within: .seconds(60)) { holder.current()?.version == version })
                let response = try await client.execute(
                    uri: "/v1/score",
                    method: .post,
                    body: try jsonBody(["query": query, "images": keys])
                )
                #expect(response.status == .ok)
                let results = try #require(try jsonObject(response.body)["results"] as? [[String: Any]])
                #expect(results.count == keys.count)
                let resident = try #require(holder.current()).catalog.residentBytes
                if configuration.catalogMemory != nil {
                    #expect(resident <= 4096)
                    #expect(Self.value("amc_serve_catalog_memory_budget_bytes", metrics) == 4096)
                    #expect(Self.value("amc_serve_catalog_cache_misses_total", metrics) > 0)
                } else {
                    #expect(Self.value("amc_serve_catalog_cache_misses_total", metrics) == 0)
                }
                return results.map { "\($0["image"]!) \($0["score"]!)" }
            }
            answers.append(answer)
        }
        #expect(answers[0] == answers[1])
    }

    /// The catalog with every image encoded and resident (no budget): what a cache must score like.
    /// A freshly published version's catalog that keeps nothing resident (a budget of one byte), read through a
    /// reader of two connections, beside the same catalog with every image resident.
    struct ColdCache {
        var fixture: LearningFixture
        var model: any ScoringModel
        /// The connection the catalogs were loaded on; the caller closes it.
        var connection: PostgresConnection
        var complete: EncodedCatalog
        var reader: CatalogReader
        var cache: EncodedCatalog
    }

    static func coldCache(metrics: ServingMetrics?) throws -> ColdCache {
        let fixture = try LearningFixture.serving()
        let version = try fixture.publish(seed: 1, activate: false)
        let model = try fixture.scoringModel(version)
        let connection = try fixture.connect()
        do {
            let complete = try everyImage(model, connection)
            let reader = CatalogReader(url: DatabaseURL(fixture.url), maxConnections: 2, logger: testLogger)
            let cache = try EncodedCatalog.load(
                from: connection,
                model: model,
                precision: .float16,
                budget: 1,
                reader: reader,
                metrics: metrics
            )
            return ColdCache(
                fixture: fixture,
                model: model,
                connection: connection,
                complete: complete,
                reader: reader,
                cache: cache
            )
        } catch {
            connection.close()
            throw error
        }
    }

    static func everyImage(_ model: any ScoringModel, _ connection: PostgresConnection) throws -> EncodedCatalog {
        try EncodedCatalog.load(
            from: connection,
            model: model,
            precision: .float16,
            budget: nil,
            reader: nil,
            metrics: nil
        )
    }

    static func served(_ model: any ScoringModel, _ catalog: EncodedCatalog) -> ServedModel {
        ServedModel(version: 1, sha256: "", activatedAt: Date(), loadedAt: Date(), model: model, catalog: catalog)
    }

    /// Each result's image and score bits, in order.
    static func bits(_ result: ScoringResult) -> [String] {
        result.results.map { "\($0.image) \($0.score.bitPattern)" }
    }

    /// A metric's value in the exposition text (0 when absent).
    static func value(_ name: String, _ metrics: ServingMetrics) -> Double {
        for line in metrics.render().split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ")[1]) ?? .nan
        }
        return 0
    }
}
