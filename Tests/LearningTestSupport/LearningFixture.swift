import Catalog
import Evaluation
import Foundation
import Learning
import Logging
import Model
import Postgres
import Simulation
import TestSupport

/// A fresh migrated database holding a simulated world's catalog and (optionally) its training clicks as pairs.
public struct LearningFixture: Sendable {
    /// The database.
    public let url: String
    /// The simulated world loaded into it.
    public let world: World

    /// - Parameters:
    ///   - world: The world's configuration.
    ///   - withClicks: Whether to load the world's training clicks as relevance pairs.
    public init(world configuration: WorldConfiguration, withClicks: Bool = true) throws {
        url = try TestPostgres.freshDatabase()
        world = World(configuration: configuration)
        let connection = try connect()
        defer { connection.close() }
        _ = try CatalogStore(connection: connection).upsert(
            world.images.map {
                CatalogImage(
                    key: $0.key,
                    keywords: $0.keywords,
                    regions: $0.regions,
                    regionCount: configuration.regions,
                    regionDimension: configuration.dimension
                )
            }
        )
        if withClicks { try addClicks(world.clicks()) }
    }

    /// A new connection to the fixture's database.
    public func connect() throws -> PostgresConnection {
        try PostgresConnection.connect(url, retryingFor: .seconds(60), logger: testLogger)
    }

    /// Adds a click stream's triads to `relevance_pairs` the way ingest does (clicks accumulate per pair, and
    /// every changed pair is stamped with the writing transaction).
    public func addClicks(_ clicks: SimulatedClicks) throws {
        var totals: [String: [String: Int]] = [:]
        for triad in clicks.triads {
            totals[world.trainingQueries[triad.query].text, default: [:]][world.images[triad.image].key, default: 0] +=
                triad.clicks
        }
        var rows: [(String, String, Int)] = []
        for (query, images) in totals.sorted(by: { $0.key < $1.key }) {
            for (image, count) in images.sorted(by: { $0.key < $1.key }) { rows.append((query, image, count)) }
        }
        try addPairs(rows)
    }

    /// Adds one click event per `(query, image, clicks)` and folds it into `relevance_pairs`, in one transaction,
    /// as ingest does (events and changed pairs carry the transaction's stamp).
    public func addPairs(_ rows: [(query: String, image: String, clicks: Int)]) throws {
        let connection = try connect()
        defer { connection.close() }
        _ = try connection.transaction { connection in
            try connection.execute(
                """
                WITH input AS (
                    SELECT q, i, c::bigint AS c, row_number() OVER () AS n
                    FROM unnest(\(rows.map(\.query)), \(rows.map(\.image)), \(rows.map { String($0.clicks) })::text[])
                        AS t(q, i, c)
                ), base AS (
                    SELECT coalesce(max("offset"), -1) AS b FROM click_events WHERE topic = 'fixture'
                ), events AS (
                    INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
                    SELECT 'fixture', 0, b + n, q, i, c, now() FROM input, base
                )
                INSERT INTO relevance_pairs AS p (query, image, clicks, click_events, first_seen, last_seen)
                SELECT q, i, c, 1, now(), now() FROM input
                ON CONFLICT (query, image) DO UPDATE SET
                    clicks = p.clicks + excluded.clicks, click_events = p.click_events + 1,
                    last_seen = excluded.last_seen, change_xid = pg_current_xact_id()
                """
            )
        }
    }

    /// Flips one byte of a version's stored weights, as storage corruption would (the immutability trigger is
    /// switched off for the update and back on after it).
    public func corrupt(_ version: Int64) throws {
        let connection = try connect()
        defer { connection.close() }
        try connection.execute(script: "ALTER TABLE model_versions DISABLE TRIGGER model_versions_immutable")
        try connection.execute(
            """
            UPDATE model_versions SET weights = set_byte(weights, 100, get_byte(weights, 100) # 1)
            WHERE version = \(version)
            """
        )
        try connection.execute(script: "ALTER TABLE model_versions ENABLE TRIGGER model_versions_immutable")
    }

    /// The world's held-out queries as judged queries (design §3 gains).
    public var labels: [JudgedQuery] {
        world.heldOutQueries.map { query in
            JudgedQuery(
                query: query.text,
                images: query.candidates.map { world.images[$0.image].key },
                gains: query.candidates.map { RelevanceGrade(label: $0.label.rawValue)!.rawValue }
            )
        }
    }
}

/// A small world that still separates the methods: 12 concepts, 1000 images.
public func smallWorld(seed: UInt64 = 7) -> WorldConfiguration {
    var configuration = WorldConfiguration()
    configuration.concepts = 12
    configuration.images = 1000
    configuration.trainingQueries = 400
    configuration.heldOutQueries = 80
    configuration.maxKeywords = 40
    configuration.seed = seed
    return configuration
}

/// A tiny world for registry and gate mechanics (quality is not asserted on it).
public func tinyWorld() -> WorldConfiguration {
    var configuration = WorldConfiguration()
    configuration.concepts = 4
    configuration.images = 120
    configuration.regions = 4
    configuration.dimension = 8
    configuration.minKeywords = 3
    configuration.maxKeywords = 8
    configuration.trainingQueries = 40
    configuration.heldOutQueries = 10
    configuration.candidatesPerHeldOutQuery = 10
    configuration.resultsPerPage = 10
    configuration.sessionsPerQuery = 4
    return configuration
}

/// Small, quick model settings for the mechanics tests.
public func quickConfiguration() -> LearnerConfiguration {
    var configuration = LearnerConfiguration()
    configuration.model.hashBuckets = 256
    configuration.model.embeddingDimension = 8
    configuration.model.attentionDimension = 4
    configuration.model.modalityDimension = 4
    configuration.bootstrapEpochs = 1
    configuration.fineTuneEpochs = 1
    configuration.trainBaselines = false
    configuration.holdoutPercent = 20
    return configuration
}

/// A learner on its own session that holds leadership.
/// - Throws: When the session cannot take leadership (another session of the test holds it).
public func leadingLearner(
    _ fixture: LearningFixture,
    _ configuration: LearnerConfiguration
) throws -> (
    Learner, PostgresConnection
) {
    let connection = try fixture.connect()
    guard try LearnerLeadership(connection: connection).tryAcquire() else {
        connection.close()
        throw LearnerError("the test learner could not take leadership")
    }
    return (
        Learner(configuration: configuration, connection: connection, worker: "test", logger: testLogger), connection
    )
}
