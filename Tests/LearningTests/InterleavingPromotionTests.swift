import CoreMetrics
import Evaluation
import Foundation
import Ingest
import Kafka
import Learning
import LearningTestSupport
import MetricsTestKit
import Model
import Postgres
import Registry
import Serving
import Simulation
import TestSupport
import Testing

/// `learn.promotion = interleaving` (Docs/learning.md, "Promotion by interleaving"): a candidate that passes the gate
/// is published but not activated and put to an interleaving experiment; later cycles judge it on clicks. The clicks
/// come from the simulated world's truth on team-draft merges of the two versions' real rankings, and go through
/// librdkafka's mock cluster and the ingest service as JSON click events naming their ranking; the rankings are
/// written as a scoring worker records them.
@Suite(.timeLimit(.minutes(10)))
struct InterleavingPromotionTests {
    @Test func aGatedCandidateIsPublishedNotActivatedAndJudgedByAnInterleavingExperiment() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.promotion = .interleaving
        configuration.gateTolerance = 10
        configuration.interleaving.share = 0.25
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        // The first version has nothing to be compared with: the gate alone activates it.
        guard case .published(let parent, true, _) = try learner.bootstrap() else {
            Issue.record("the first bootstrap was not published and activated")
            return
        }
        try addTrainingClicks(fixture, configuration)
        guard case .onTrial(let candidate, let experimentID, _) = try learner.fineTune() else {
            Issue.record("a gated candidate was not put to an interleaving experiment")
            return
        }
        let registry = ModelRegistry(connection: connection)
        #expect(try registry.activeVersion() == parent)
        #expect(try registry.version(candidate)?.parent == parent)
        let experiment = try #require(try ExperimentStore(connection: connection).running().interleave)
        #expect(experiment.id == experimentID)
        #expect(experiment.candidateVersion == candidate)
        #expect(experiment.share == 0.25)
        #expect(experiment.startedBy == "learner")
        #expect(
            try runs(connection) == [
                Run(kind: "bootstrap", outcome: "published", version: parent, experiment: nil),
                Run(kind: "finetune", outcome: "interleaving", version: candidate, experiment: experimentID),
            ]
        )

        // While it runs, new clicks train no new candidate: the cycle judges the experiment (no clicks yet).
        try addTrainingClicks(fixture, configuration)
        guard case .interleaving(let decision) = try learner.fineTune() else {
            Issue.record("a cycle trained while the experiment ran")
            return
        }
        #expect(decision.outcome == .undecided)
        #expect(decision.judgement.impressions == 0)
        #expect(try registry.versions().count == 2)

        // Past learn.interleaving.max-duration-seconds without a verdict: stopped, the candidate rejected.
        var expired = configuration
        expired.interleaving.maxDuration = .zero
        let impatient = Learner(configuration: expired, connection: connection, worker: "test", logger: testLogger)
        guard case .interleaving(let verdict) = try impatient.fineTune() else {
            Issue.record("the expired experiment was not judged")
            return
        }
        #expect(verdict.outcome == .rejected)
        #expect(verdict.reason.contains("max-duration"), "\(verdict.reason)")
        #expect(try ExperimentStore(connection: connection).running().interleave == nil)
        #expect(try registry.activeVersion() == parent)
        #expect(
            try runs(connection).last
                == Run(kind: "interleaving", outcome: "rejected", version: candidate, experiment: experimentID)
        )
        // The next cycle trains again.
        guard case .onTrial = try learner.fineTune() else {
            Issue.record("no candidate was trained after the verdict")
            return
        }
    }

    @Test func aCandidateThatIsWorseOnlineLosesTheInterleavingTestAndIsNotActivated() async throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let configuration = promotionConfiguration()
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let good, true, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        let degraded = try insertDegraded(of: good, connection: connection)
        let experiment = try connection.transaction {
            try ExperimentStore(connection: $0).start(
                kind: .interleave,
                candidate: degraded,
                share: 0.5,
                actor: Learner.actor,
                reason: "test"
            ).experiment
        }
        try await interleave(fixture, experiment: experiment.id, active: good, candidate: degraded, impressions: 80)

        let metrics = TestMetrics()
        guard case .interleaving(let decision) = try withMetricsFactory(metrics, { try learner.fineTune() }) else {
            Issue.record("the experiment was not judged")
            return
        }
        #expect(decision.outcome == .rejected, "\(decision.reason)")
        // The verdict's figures are exported.
        #expect(
            metrics.counterTotal(label: "learn.interleaving.experiments", dimensions: [("outcome", "rejected")]) == 1
        )
        for (credit, count) in [
            ("win", decision.judgement.tally.wins), ("loss", decision.judgement.tally.losses),
            ("tie", decision.judgement.tally.ties),
        ] {
            let gauge = try metrics.expectGauge("learn.interleaving.impressions", [("credit", credit)])
            #expect(gauge.lastValue == Double(count), "\(credit)")
        }
        #expect(try metrics.expectGauge("learn.interleaving.p_value").lastValue == decision.judgement.pValue)
        #expect(try metrics.expectGauge("learn.interleaving.candidate").lastValue == 0)
        #expect(decision.judgement.verdict == .candidateLoses)
        #expect(decision.judgement.tally.losses > decision.judgement.tally.wins)
        #expect(decision.judgement.pValue <= decision.judgement.threshold)
        let registry = ModelRegistry(connection: connection)
        #expect(try registry.activeVersion() == good)
        #expect(try registry.activations().map(\.version) == [good])
        #expect(try ExperimentStore(connection: connection).running().interleave == nil)
        let last = try #require(try runs(connection).last)
        #expect(last == Run(kind: "interleaving", outcome: "rejected", version: degraded, experiment: experiment.id))
        let reason = try connection.query("SELECT reason, parent FROM learner_runs ORDER BY id DESC LIMIT 1")[0]
        #expect(try reason.decode(String.self, column: 0).hasPrefix("lost interleaving experiment \(experiment.id)"))
        #expect(try reason.decode(Int64.self, column: 1) == good)
    }

    @Test func aCandidateThatIsBetterOnlineWinsTheInterleavingTestAndIsActivated() async throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let configuration = promotionConfiguration()
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        guard case .published(let trained, true, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        // The degraded version serves; the trained weights come back as a new version, the candidate.
        let registry = ModelRegistry(connection: connection)
        let degraded = try insertDegraded(of: trained, connection: connection)
        _ = try connection.transaction {
            try ModelRegistry(connection: $0).activate(degraded, actor: "test", reason: "")
        }
        let better = try insertVersion(try registry.parameters(of: trained), like: trained, connection: connection)
        let experiment = try connection.transaction {
            try ExperimentStore(connection: $0).start(
                kind: .interleave,
                candidate: better,
                share: 0.5,
                actor: Learner.actor,
                reason: "test"
            ).experiment
        }
        try await interleave(fixture, experiment: experiment.id, active: degraded, candidate: better, impressions: 80)

        guard case .interleaving(let decision) = try learner.fineTune() else {
            Issue.record("the experiment was not judged")
            return
        }
        #expect(decision.outcome == .promoted, "\(decision.reason)")
        #expect(decision.judgement.verdict == .candidateWins)
        #expect(try registry.activeVersion() == better)
        let activation = try #require(try registry.latestActivation())
        #expect(activation.actor == "learner")
        #expect(activation.previousVersion == degraded)
        let tally = decision.judgement.tally
        #expect(activation.reason.hasPrefix("won interleaving experiment \(experiment.id): \(tally.wins) wins, "))
        #expect(activation.reason.contains("sign test p = "))
        #expect(try ExperimentStore(connection: connection).running().interleave == nil)
        #expect(
            try runs(connection).last
                == Run(kind: "interleaving", outcome: "promoted", version: better, experiment: experiment.id)
        )
        let stopped = try connection.query(
            "SELECT stopped_by, stop_reason FROM online_experiments WHERE id = \(experiment.id)"
        )[0]
        #expect(try stopped.decode(String.self, column: 0) == "learner")
        #expect(try stopped.decode(String.self, column: 1).hasPrefix("promoted: won interleaving experiment"))
    }

    // MARK: - Fixture

    struct Run: Equatable {
        var kind: String
        var outcome: String
        var version: Int64?
        var experiment: Int64?
    }

    func runs(_ connection: PostgresConnection) throws -> [Run] {
        try connection.query("SELECT kind, outcome, version, experiment FROM learner_runs ORDER BY id").map {
            Run(
                kind: try $0.decode(String.self, column: 0),
                outcome: try $0.decode(String.self, column: 1),
                version: try $0.decode(Int64?.self, column: 2),
                experiment: try $0.decode(Int64?.self, column: 3)
            )
        }
    }

    /// Quick settings, trained long enough to rank the tiny world's held-out queries well, judged under
    /// interleaving with a first look at 20 credited impressions.
    func promotionConfiguration() -> LearnerConfiguration {
        var configuration = quickConfiguration()
        configuration.bootstrapEpochs = 6
        configuration.promotion = .interleaving
        configuration.interleaving.minImpressions = 20
        configuration.interleaving.pValue = 0.05
        return configuration
    }

    /// New clicks for three training queries.
    func addTrainingClicks(_ fixture: LearningFixture, _ configuration: LearnerConfiguration) throws {
        let queries = fixture.world.trainingQueries.map(\.text)
            .filter { !TrainingData.isHeldOut($0, percent: configuration.holdoutPercent) }.prefix(3)
        try fixture.addPairs(queries.map { ($0, fixture.world.images[1].key, 3) })
    }

    /// A deliberately degraded copy of `version`: the query projection negated, so the query's vector points away from
    /// what it matched (its ranking is roughly reversed). A fine-tune may change only the online part, so it is
    /// stored as a version of its own (kind bootstrap, no parent), as a bootstrap with other settings would be.
    func insertDegraded(of version: Int64, connection: PostgresConnection) throws -> Int64 {
        var weights = try AMCWeights(parameters: ModelRegistry(connection: connection).parameters(of: version))
        weights.withTensor(.queryWeight) { values in
            for index in values.indices { values[index] = -values[index] }
        }
        weights.withTensor(.queryBias) { values in
            for index in values.indices { values[index] = -values[index] }
        }
        return try insertVersion(weights.parameters, like: version, connection: connection)
    }

    /// Stores `parameters` as a new version (kind bootstrap) with the records of `template`.
    func insertVersion(
        _ parameters: ModelParameters,
        like template: Int64,
        connection: PostgresConnection
    ) throws -> Int64 {
        let record = try #require(try ModelRegistry(connection: connection).version(template))
        return try ModelRegistry(connection: connection).insert(
            ModelRegistry.NewVersion(
                kind: .bootstrap,
                parent: nil,
                parameters: parameters,
                watermark: record.watermark,
                trainingWindow: record.trainingWindow,
                hyperparameters: record.hyperparameters,
                metrics: record.metrics,
                createdBy: "test"
            )
        )
    }

    /// Serves `impressions` interleaved rankings of the world's held-out queries as a scoring worker in the
    /// experiment would: both versions rank the query's candidates, a team draft merges them, and the merged ranking
    /// is recorded with its teams. A simulated user clicks the first Excellent image in the merged list (else the
    /// first Good one; nothing when neither is shown), and the click goes through Kafka and ingest naming the
    /// ranking.
    func interleave(
        _ fixture: LearningFixture,
        experiment: Int64,
        active: Int64,
        candidate: Int64,
        impressions: Int
    ) async throws {
        let connection = try fixture.connect()
        defer { connection.close() }
        let registry = ModelRegistry(connection: connection)
        let activeModel = try registry.model(of: active)
        let candidateModel = try registry.model(of: candidate)
        let world = fixture.world
        var random = SplitMix64(seed: 11)
        var events: [(key: String, value: [UInt8])] = []
        var rankings: [(id: String, query: String, images: [String], teams: [String])] = []
        for index in 0..<impressions {
            let query = world.heldOutQueries[index % world.heldOutQueries.count]
            let candidates = query.candidates
            func ranking(_ model: any ScoringModel) -> [String] {
                let features = candidates.map { candidate in
                    let image = world.images[candidate.image]
                    return ImageFeatures(
                        regions: image.regions,
                        regionCount: world.configuration.regions,
                        keywords: model.keywordInputs(image.keywords)
                    )
                }
                return model.score(query: query.text, images: features).sorted { $0.score > $1.score }.map {
                    world.images[candidates[$0.index].image].key
                }
            }
            // Merged as the scoring worker merges them.
            let active = ranking(activeModel)
            let picks = TeamDraft.merge(
                active: active,
                candidate: ranking(candidateModel),
                length: active.count,
                using: &random
            )
            let merged = (images: picks.map(\.image), teams: picks.map(\.team.rawValue))
            let id = UUID().uuidString.lowercased()
            rankings.append((id, query.text, merged.images, merged.teams))
            let label = Dictionary(candidates.map { (world.images[$0.image].key, $0.label) }) { first, _ in first }
            let clicked =
                merged.images.firstIndex { label[$0] == .excellent } ?? merged.images.firstIndex { label[$0] == .good }
            guard let position = clicked else { continue }
            let event: [String: Any] = [
                "query": query.text, "image": merged.images[position], "position": position,
                "impressions": merged.images, "ranking": id,
            ]
            events.append((query.text, Array(try JSONSerialization.data(withJSONObject: event, options: .sortedKeys))))
        }
        for (offset, ranking) in rankings.enumerated() {
            try connection.execute(
                """
                INSERT INTO rankings (id, served_at, model_version, query, images, teams, experiment)
                VALUES (\(ranking.id)::uuid, clock_timestamp() + \(offset) * interval '1 millisecond', \(active),
                        \(ranking.query), \(ranking.images), \(ranking.teams), \(experiment))
                """
            )
        }

        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 2)
        let producer = try KafkaProducer(
            config: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
            logger: testLogger
        )
        for event in events { try producer.send(topic: "clicks", key: Array(event.key.utf8), value: event.value) }
        try producer.flush(timeout: .seconds(60))
        #expect(producer.failedCount == 0)
        var ingest = IngestConfiguration()
        ingest.topics = ["clicks"]
        ingest.groupID = "interleaving"
        ingest.batchMaxLatency = .milliseconds(50)
        ingest.untilIdle = .seconds(2)
        try await IngestService(
            configuration: ingest,
            kafka: KafkaConfig(bootstrapServers: cluster.bootstrapServers),
            databaseURL: fixture.url,
            logger: testLogger
        ).run()
        let landed = try connection.query("SELECT count(*) FROM click_events WHERE ranking IS NOT NULL")[0]
        #expect(try landed.decode(Int.self, column: 0) == events.count)
    }
}
