import Catalog
import Foundation
import Hummingbird
import Learning
import LearningTestSupport
import Logging
import Model
import Postgres
import Registry
import Serving
import Simulation
import TestSupport
import Testing

extension LearningFixture {
    /// A fresh migrated database with a tiny simulated world's catalog and training clicks as relevance pairs.
    static func serving() throws -> LearningFixture {
        try LearningFixture(world: tinyWorld())
    }

    /// Trains and publishes a small bootstrap version (the gate accepts anything finite).
    /// - Returns: The version number.
    func publish(seed: UInt64, activate: Bool, architecture: String = AMCModel.architecture) throws -> Int64 {
        var configuration = quickConfiguration()
        configuration.gateTolerance = 10
        configuration.seed = seed
        configuration.architecture = architecture
        configuration.activate = activate
        let connection = try connect()
        defer { connection.close() }
        let leadership = LearnerLeadership(connection: connection)
        #expect(try leadership.tryAcquire())
        // Released before returning: closing the connection frees the lock only when its backend exits, later.
        defer { _ = try? leadership.release() }
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

    /// Records an activation without the registry's check that the version loads, as a hand-written INSERT (or a
    /// release before that check) could: how a test makes a worker meet a version it must refuse.
    func recordUncheckedActivation(_ version: Int64) throws {
        let connection = try connect()
        defer { connection.close() }
        try connection.execute(
            """
            INSERT INTO model_activations (version, previous_version, actor, reason)
            SELECT \(version), (SELECT version FROM model_activations ORDER BY id DESC LIMIT 1), 'test', 'unchecked'
            """
        )
    }

    /// The model of a version of any architecture, straight from the registry.
    func scoringModel(_ version: Int64) throws -> any ScoringModel {
        let connection = try connect()
        defer { connection.close() }
        return try ModelArchitectures.model(from: ModelRegistry(connection: connection).parameters(of: version))
    }

    /// The catalog's images as model inputs, keywords hashed into `hashBuckets`.
    func catalogFeatures(hashBuckets: Int) throws -> ImageFeatureTable {
        let connection = try connect()
        defer { connection.close() }
        return ImageFeatureTable(images: try CatalogStore(connection: connection).allImages(), hashBuckets: hashBuckets)
    }

    /// The model of a version, straight from the registry.
    func model(_ version: Int64) throws -> AMCModel {
        let connection = try connect()
        defer { connection.close() }
        return AMCModel(weights: try ModelRegistry(connection: connection).weights(of: version))
    }
}

/// Test settings: an ephemeral port, a quick re-check, and float32 encodings (scores bit-identical to the raw
/// features', which the tests compare with; `CatalogCacheTests` covers the compact default).
func testConfiguration() -> ServingConfiguration {
    var configuration = ServingConfiguration()
    configuration.port = 0
    configuration.recheckInterval = .milliseconds(500)
    configuration.catalogEncoding = .float32
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

/// The scoring application on `fixture`'s database (connecting as `databaseURL`'s user when given), with the holder
/// and the metrics it feeds.
func scoringWorker(
    _ fixture: LearningFixture,
    _ configuration: ServingConfiguration,
    databaseURL: String? = nil
) -> (holder: ModelHolder, metrics: ServingMetrics, app: some ApplicationProtocol) {
    let holder = ModelHolder()
    let metrics = ServingMetrics()
    let app = ScoringAPI.buildApplication(
        configuration: configuration,
        databaseURL: databaseURL ?? fixture.url,
        holder: holder,
        metrics: metrics,
        logger: testLogger
    )
    return (holder, metrics, app)
}
