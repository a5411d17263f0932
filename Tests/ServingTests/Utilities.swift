import Catalog
import Foundation
import Hummingbird
import Learning
import Logging
import Model
import Postgres
import Serving
import Simulation
import TestSupport
import Testing

/// A fresh migrated database with a tiny simulated world's catalog and training clicks as relevance pairs.
struct ServingFixture {
    let url: String
    let world: World

    init() throws {
        url = try TestPostgres.freshDatabase()
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
        var totals: [String: [String: Int]] = [:]
        for triad in world.clicks().triads {
            totals[world.trainingQueries[triad.query].text, default: [:]][world.images[triad.image].key, default: 0] +=
                triad.clicks
        }
        var rows: [(String, String, Int)] = []
        for (query, images) in totals.sorted(by: { $0.key < $1.key }) {
            for (image, count) in images.sorted(by: { $0.key < $1.key }) { rows.append((query, image, count)) }
        }
        _ = try connection.transaction { connection in
            try connection.execute(
                """
                WITH input AS (
                    SELECT q, i, c::bigint AS c, row_number() OVER () AS n
                    FROM unnest(\(rows.map(\.0)), \(rows.map(\.1)), \(rows.map { String($0.2) })::text[]) AS t(q, i, c)
                ), events AS (
                    INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
                    SELECT 'fixture', 0, n, q, i, c, now() FROM input
                )
                INSERT INTO relevance_pairs (query, image, clicks, click_events, first_seen, last_seen)
                SELECT q, i, c, 1, now(), now() FROM input
                """
            )
        }
    }

    func connect() throws -> PostgresConnection {
        try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: testLogger)
    }

    /// Trains and publishes a small bootstrap version (the gate accepts anything finite).
    /// - Returns: The version number.
    func publish(seed: UInt64, activate: Bool) throws -> Int64 {
        var configuration = LearnerConfiguration()
        configuration.model.hashBuckets = 256
        configuration.model.embeddingDimension = 8
        configuration.model.attentionDimension = 4
        configuration.model.modalityDimension = 4
        configuration.bootstrapEpochs = 1
        configuration.trainBaselines = false
        configuration.holdoutPercent = 20
        configuration.gateTolerance = 10
        configuration.seed = seed
        configuration.activate = activate
        let connection = try connect()
        defer { connection.close() }
        #expect(try LearnerLeadership(connection: connection).tryAcquire())
        let learner = Learner(configuration: configuration, connection: connection, worker: "test", logger: testLogger)
        guard case .published(let version, _, _) = try learner.bootstrap() else {
            throw TestFailure("the bootstrap was not published")
        }
        return version
    }

    /// Activates a version the way operators do (one transaction; the trigger announces it at commit).
    func activate(_ version: Int64) throws {
        let connection = try connect()
        defer { connection.close() }
        _ = try connection.transaction { connection in
            try ModelRegistry(connection: connection).activate(version, actor: "test", reason: "serving test")
        }
    }

    /// Flips one byte of a version's stored weights (the immutability trigger is switched off for it).
    func corrupt(_ version: Int64) throws {
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

    /// The model of a version, straight from the registry.
    func model(_ version: Int64) throws -> AMCModel {
        let connection = try connect()
        defer { connection.close() }
        return AMCModel(weights: try ModelRegistry(connection: connection).weights(of: version))
    }
}

/// Test settings: an ephemeral port, a quick re-check.
func testConfiguration() -> ServingConfiguration {
    var configuration = ServingConfiguration()
    configuration.port = 0
    configuration.recheckInterval = .milliseconds(500)
    return configuration
}

/// Waits (polling, without blocking the cooperative pool) until `condition` holds or `timeout` passes.
func eventually(within timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// A JSON body.
func jsonBody(_ object: Any) throws -> ByteBuffer {
    ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
}

/// A response body as a JSON object.
func jsonObject(_ buffer: ByteBuffer) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
    return try #require(value as? [String: Any])
}
