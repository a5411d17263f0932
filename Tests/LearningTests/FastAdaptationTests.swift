import Catalog
import Evaluation
import Foundation
import LearningTestSupport
import Model
import Postgres
import Registry
import Simulation
import TestSupport
import Testing

@testable import Learning

/// Fast adaptation: a following learner wakes on the commits that change pairs, a cycle reads only its window, and
/// fine-tuning cycles of one lineage continue one Adam run.
@Suite(.timeLimit(.minutes(6)))
struct FastAdaptationTests {
    @Test func aBurstOfCommitsWakesAFollowingLearnerForOneCycleLongBeforeTheInterval() async throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.gateTolerance = 1
        configuration.pollInterval = .seconds(600)
        // Long enough for five small commits on a loaded machine: every one of them falls inside the spacing.
        configuration.minCycleSpacing = .seconds(15)
        let service = LearnerService(
            configuration: configuration,
            databaseURL: fixture.url,
            mode: .follow(bootstrapFirst: false),
            worker: "test",
            logger: testLogger
        )
        // On its own thread (run()), so the cooperative pool stays free for the test's polling.
        let running = Task { try await service.run() }
        defer { service.requestStop() }
        let connection = try fixture.connect()
        defer { connection.close() }
        let registry = ModelRegistry(connection: connection)
        // The first cycle bootstraps (no version yet); then the learner waits, listening.
        #expect(try await eventually { try registry.activeVersion() != nil })
        #expect(service.cyclesStarted == 1)

        // Five commits in a row, each changing pairs, as five ingest batches would.
        let triads = Array(fixture.world.clicks(shifted: true).triads.prefix(100))
        for chunk in stride(from: 0, to: triads.count, by: 20) {
            try fixture.addPairs(
                triads[chunk..<min(chunk + 20, triads.count)].map {
                    (
                        fixture.world.trainingQueries[$0.query].text, fixture.world.images[$0.image].key,
                        $0.clicks
                    )
                }
            )
        }
        // The interval is ten minutes: only the notifications can start a cycle now.
        #expect(try await eventually { try registry.versions().count == 2 })
        let tuned = try #require(try registry.versions().last)
        #expect(tuned.kind == .finetune)
        // That one cycle saw all five commits, and no other cycle follows.
        #expect(try !PairStore(connection: connection).hasChanges(since: tuned.watermark))
        try await Task.sleep(for: .seconds(6))
        #expect(service.cyclesStarted == 2)
        service.requestStop()
        try await running.value
    }

    @Test func aPollingLearnerIsNotWokenByCommits() async throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.gateTolerance = 1
        configuration.pollInterval = .seconds(600)
        configuration.minCycleSpacing = .zero
        configuration.wakeOnCommits = false
        let service = LearnerService(
            configuration: configuration,
            databaseURL: fixture.url,
            mode: .follow(bootstrapFirst: false),
            worker: "test",
            logger: testLogger
        )
        let running = Task { try await service.run() }
        defer { service.requestStop() }
        let connection = try fixture.connect()
        defer { connection.close() }
        let registry = ModelRegistry(connection: connection)
        #expect(try await eventually { try registry.activeVersion() != nil })
        #expect(service.cyclesStarted == 1)

        // Commits that would wake a listening learner at once (the spacing is zero): a polling one sleeps on until
        // its ten-minute interval.
        let triads = Array(fixture.world.clicks(shifted: true).triads.prefix(40))
        try fixture.addPairs(
            triads.map {
                (fixture.world.trainingQueries[$0.query].text, fixture.world.images[$0.image].key, $0.clicks)
            }
        )
        try await Task.sleep(for: .seconds(6))
        #expect(service.cyclesStarted == 1)
        #expect(try registry.versions().count == 1)
        service.requestStop()
        try await running.value
    }

    @Test func aCycleReadsTheSameRowsWhateverTheNumberOfPairsInTheTable() throws {
        var observed: [[CycleReads]] = []
        for history in [2_000, 20_000] {
            let fixture = try LearningFixture(world: tinyWorld())
            try addHistory(history, to: fixture)
            var configuration = quickConfiguration()
            configuration.gateTolerance = 1
            let (learner, connection) = try leadingLearner(fixture, configuration)
            defer { connection.close() }
            let registry = ModelRegistry(connection: connection)
            let cache = LearnerCache()
            let following = Learner(
                configuration: configuration,
                connection: connection,
                worker: "test",
                logger: testLogger,
                cache: cache
            )
            guard case .published = try learner.bootstrap() else {
                Issue.record("bootstrap did not publish")
                return
            }
            var reads: [CycleReads] = []
            for shifted in [true, false] {
                // The same window each time: one commit of the world's clicks.
                try fixture.addClicks(fixture.world.clicks(shifted: shifted))
                guard case .published = try following.fineTune() else {
                    Issue.record("the fine-tune did not publish")
                    return
                }
                reads.append(cache.lastCycleReads)
            }
            #expect(try registry.versions().count == 3)
            // The history is never read: a cycle reads at most the pairs of the world's queries, the window's.
            let pairs = try connection.query("SELECT count(*) FROM relevance_pairs")[0].decode(Int.self, column: 0)
            #expect(pairs > history)
            for cycle in reads { #expect(cycle.pairRows > 0 && cycle.pairRows <= pairs - history, "\(cycle)") }
            // The first cycle of a learner reads the catalog's keys; the next reads none, and only the features of
            // images no earlier cycle used.
            #expect(reads[0].catalogKeys == fixture.world.images.count && reads[1].catalogKeys == 0)
            observed.append(reads)
        }
        #expect(observed[0] == observed[1], "\(observed)")
    }

    @Test func aSecondFineTuneContinuesTheFirstOnesAdamMomentsAsOneTrainingSessionWould() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        var configuration = quickConfiguration()
        configuration.gateTolerance = 1
        configuration.fineTuneEpochs = 2
        let (learner, connection) = try leadingLearner(fixture, configuration)
        defer { connection.close() }
        let registry = ModelRegistry(connection: connection)
        guard case .published(let bootstrapped, _, _) = try learner.bootstrap() else {
            Issue.record("bootstrap did not publish")
            return
        }
        let table = ImageFeatureTable(
            images: try CatalogStore(connection: connection).allImages(),
            hashBuckets: configuration.model.hashBuckets
        )
        let cache = LearnerCache()
        let following = Learner(
            configuration: configuration,
            connection: connection,
            worker: "test",
            logger: testLogger,
            cache: cache
        )
        // Two windows, each fine-tuned in its own cycle; the windows' examples are read as the cycles read them.
        var windows: [(positives: [RelevancePair], context: [RelevancePair])] = []
        var published: [Int64] = []
        for shifted in [true, false] {
            try fixture.addClicks(fixture.world.clicks(shifted: shifted))
            let active = try #require(try registry.activeVersion())
            let parent = try #require(try registry.version(active))
            let split = Split(
                try PairStore(connection: connection).readWindow(changedSince: parent.watermark).snapshot.pairs,
                configuration: configuration
            )
            windows.append(TrainingData.fineTuning(split.training))
            guard case .published(let version, _, _) = try following.fineTune() else {
                Issue.record("the fine-tune did not publish")
                return
            }
            published.append(version)
        }
        // The cycles trained on their images' kept encodings (AMC's trainer reads them), the same bits as the
        // session below, which encodes the features.
        let positives = Set(windows.flatMap { $0.positives.map(\.image) })
        #expect(!positives.isEmpty && positives.isSubset(of: cache.encodings.keptKeys))
        // The passes each cycle made, as recorded: the first cycle's evidence is its window alone (all of them); the
        // second, within the evidence horizon, makes its share of them (at least one).
        let passes = try published.map { try #require(try registry.version($0)).hyperparameters.epochs }
        #expect(passes[0] == configuration.fineTuneEpochs && (1...configuration.fineTuneEpochs).contains(passes[1]))

        // One training session over both windows, from the bootstrap's weights.
        let settings = TrainerSettings(learningRate: configuration.fineTuneLearningRate, scope: .onlinePart)
        let start = try ModelArchitectures.model(from: registry.parameters(of: bootstrapped))
        var session = start.makeTrainer(settings)
        for (window, passes) in zip(windows, passes) {
            train(&session, on: window, table: table, configuration: configuration, passes: passes)
        }
        let second = try registry.parameters(of: published[1])
        #expect(second == session.scoringModel.parameters)

        // Without the moments (a fresh optimiser on the first cycle's weights) the second cycle would differ.
        var fresh = try ModelArchitectures.model(from: registry.parameters(of: published[0])).makeTrainer(settings)
        train(&fresh, on: windows[1], table: table, configuration: configuration, passes: passes[1])
        #expect(second != fresh.scoringModel.parameters)

        // After another lineage was activated (here: back to the bootstrap), the next fine-tune starts from fresh
        // moments on that version's weights.
        try registry.activate(bootstrapped, actor: "test", reason: "rollback")
        try fixture.addClicks(fixture.world.clicks(shifted: true))
        let rolledBack = try #require(try registry.version(bootstrapped))
        let split = Split(
            try PairStore(connection: connection).readWindow(changedSince: rolledBack.watermark).snapshot.pairs,
            configuration: configuration
        )
        guard case .published(let third, _, _) = try following.fineTune() else {
            Issue.record("the fine-tune after the rollback did not publish")
            return
        }
        var restarted = start.makeTrainer(settings)
        train(
            &restarted,
            on: TrainingData.fineTuning(split.training),
            table: table,
            configuration: configuration,
            passes: try #require(try registry.version(third)).hyperparameters.epochs
        )
        #expect(try registry.parameters(of: third) == restarted.scoringModel.parameters)
    }
}

/// What a fine-tuning cycle learns from: its queries' recent evidence, contrasted with what users examined lately.
@Suite struct RecentEvidenceTests {
    /// A pair with lifetime totals (10 clicks, grade 3) and the given recent evidence.
    static func pair(
        _ image: String,
        changed: Bool,
        windowClicks: Int64,
        grade: Int,
        passedOver: Int64,
        query: String = "q",
        viewsKnown: Bool = true
    ) -> RelevancePair {
        RelevancePair(
            query: query,
            image: image,
            clicks: 10,
            relevance: 2,
            grade: 3,
            changed: changed,
            firstSeen: Date(),
            lastSeen: Date(),
            windowClicks: windowClicks,
            recentGrade: grade,
            recentPassedOver: passedOver,
            recentViewsKnown: viewsKnown
        )
    }

    @Test func positivesAreWhatRecentEvidenceGradesAndNegativesOnlyWhatUsersExamined() {
        let training = [
            Self.pair("clicked", changed: true, windowClicks: 1, grade: 1, passedOver: 0),
            // Clicked in the window but passed over more often lately: examined, not a positive.
            Self.pair("outvoted", changed: true, windowClicks: 1, grade: 0, passedOver: 3),
            // Graded by clicks earlier in the horizon, nothing new: trained on again while they are recent.
            Self.pair("earlier", changed: false, windowClicks: 0, grade: 2, passedOver: 0),
            // Skipped in the window (its pair changed) and never clicked lately.
            Self.pair("passed", changed: true, windowClicks: 0, grade: 0, passedOver: 1),
            // Clicked long ago, not shown lately: says nothing about now.
            Self.pair("unseen", changed: false, windowClicks: 0, grade: 0, passedOver: 0),
            // A query whose events do not say what they showed (Clickture triads): every pair may be a negative.
            Self.pair("triad", changed: true, windowClicks: 2, grade: 1, passedOver: 0, query: "t", viewsKnown: false),
            Self.pair(
                "unclicked",
                changed: false,
                windowClicks: 0,
                grade: 0,
                passedOver: 0,
                query: "t",
                viewsKnown: false
            ),
        ]
        let (positives, context) = TrainingData.fineTuning(training)
        #expect(positives.map(\.image) == ["clicked", "earlier", "triad"])
        #expect(context.map(\.image) == ["clicked", "outvoted", "earlier", "passed", "triad", "unclicked"])
    }

    /// A fine-tune's gate judges each held-out query on the images users examined lately, graded by that evidence,
    /// and leaves out the images nobody was shown lately (neither judged nor drawn as filler): a recent grade of 0
    /// there says nobody looked, not that the image is irrelevant. Queries whose events do not say what they showed
    /// keep every image, and the totals' slice (no `onlyExamined`) keeps them all.
    @Test func theGateJudgesOnlyTheImagesUsersExaminedLately() {
        let keys = ["clicked", "passed", "unseen", "triad-unseen"] + (0..<40).map { "filler-\($0)" }
        let table = ImageFeatureTable(
            images: keys.map {
                CatalogImage(key: $0, keywords: ["k"], regions: [0, 0], regionCount: 1, regionDimension: 2)
            },
            hashBuckets: 16
        )
        let heldOut = [
            Self.pair("clicked", changed: true, windowClicks: 2, grade: 2, passedOver: 0, query: "h"),
            Self.pair("passed", changed: true, windowClicks: 0, grade: 0, passedOver: 2, query: "h"),
            Self.pair("unseen", changed: false, windowClicks: 0, grade: 0, passedOver: 0, query: "h"),
            Self.pair(
                "clicked",
                changed: true,
                windowClicks: 1,
                grade: 1,
                passedOver: 0,
                query: "t",
                viewsKnown: false
            ),
            Self.pair(
                "triad-unseen",
                changed: false,
                windowClicks: 0,
                grade: 0,
                passedOver: 0,
                query: "t",
                viewsKnown: false
            ),
        ]
        func lists(onlyExamined: Bool) -> [String: [String: Int]] {
            let judged = TrainingData.gateQueries(
                heldOut,
                grade: \.recentGrade,
                onlyExamined: onlyExamined,
                table: table,
                candidates: 30,
                maxQueries: 10
            )
            var result: [String: [String: Int]] = [:]
            for query in judged {
                #expect(query.images.count == 30 && Set(query.images).count == 30, "\(query.query): 30 distinct")
                result[query.query] = Dictionary(uniqueKeysWithValues: zip(query.images, query.gains))
            }
            return result
        }
        let condensed = lists(onlyExamined: true)
        #expect(condensed["h"]?["clicked"] == 2 && condensed["h"]?["passed"] == 0)
        #expect(condensed["h"]?["unseen"] == nil, "not examined lately: left out, and never drawn as filler")
        #expect(condensed["t"]?["clicked"] == 1 && condensed["t"]?["triad-unseen"] == 0, "views unknown: kept")
        let full = lists(onlyExamined: false)
        #expect(full["h"]?["unseen"] == 0, "without onlyExamined every pair is judged")
    }

    @Test func theHorizonIsTheLatestWatermarkAtLeastThatOldAndTheCacheKeepsNoOlder() {
        let cache = LearnerCache()
        let start = ContinuousClock.now
        #expect(cache.evidenceHorizon(.seconds(30), now: start) == nil, "no cycle yet: the window alone")
        cache.keepWatermark("1:1:", for: .seconds(30), now: start)
        cache.keepWatermark("2:2:", for: .seconds(30), now: start + .seconds(10))
        // None is old enough yet: the oldest kept.
        #expect(cache.evidenceHorizon(.seconds(30), now: start + .seconds(20)) == "1:1:")
        cache.keepWatermark("3:3:", for: .seconds(30), now: start + .seconds(45))
        #expect(cache.evidenceHorizon(.seconds(30), now: start + .seconds(45)) == "2:2:")
        #expect(cache.evidenceHorizon(.zero, now: start + .seconds(45)) == nil, "0: the window alone")
        // The first watermark is older than the latest one that is old enough: no horizon needs it any more.
        #expect(cache.keptWatermarks == ["2:2:", "3:3:"])
        cache.keepWatermark("4:4:", for: .zero, now: start + .seconds(50))
        #expect(cache.keptWatermarks == ["2:2:", "3:3:"], "a horizon of 0 keeps nothing")
    }

    @Test func aCycleWithinTheHorizonMakesItsShareOfThePassesAndAWindowAloneAllOfThem() {
        let cache = LearnerCache()
        let start = ContinuousClock.now
        // Nothing kept: the cycle's evidence is its window alone, trained on in this cycle only.
        #expect(cache.fineTunePasses(epochs: 8, horizon: .seconds(60), now: start) == 8)
        cache.keepWatermark("1:1:", for: .seconds(60), now: start)
        // Every 3 s within 60 s: 8 × 3/60 rounds to 0, at least one pass (the click is trained on ~20 times).
        #expect(cache.fineTunePasses(epochs: 8, horizon: .seconds(60), now: start + .seconds(3)) == 1)
        // Every 30 s: half of them, in each of the two cycles a click stays in the horizon.
        #expect(cache.fineTunePasses(epochs: 8, horizon: .seconds(60), now: start + .seconds(30)) == 4)
        // A cycle longer than the horizon is a window alone again: never more than the setting.
        #expect(cache.fineTunePasses(epochs: 8, horizon: .seconds(60), now: start + .seconds(600)) == 8)
        #expect(cache.fineTunePasses(epochs: 8, horizon: .zero, now: start + .seconds(3)) == 8, "no horizon")
    }
}

/// Adds `count` pairs of queries nobody searches any more (images not in the catalog), with one click event each,
/// committed before the tests' versions are trained: history every cycle's window leaves out.
private func addHistory(_ count: Int, to fixture: LearningFixture) throws {
    let connection = try fixture.connect()
    defer { connection.close() }
    try connection.transaction { connection in
        try connection.execute(
            """
            INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
            SELECT 'history', 0, i, 'history query ' || lpad((i / 4)::text, 8, '0'), 'history-image-' || (i % 4),
                   1, now()
            FROM generate_series(1, \(count)) AS i
            """
        )
        try connection.execute(
            """
            INSERT INTO relevance_pairs (query, image, clicks, click_events, first_seen, last_seen)
            SELECT 'history query ' || lpad((i / 4)::text, 8, '0'), 'history-image-' || (i % 4), 1, 1, now(), now()
            FROM generate_series(1, \(count)) AS i
            """
        )
    }
}

/// Runs a fine-tune's passes and minibatches over a window, exactly as a learner cycle does.
private func train(
    _ trainer: inout any ScoringModelTrainer,
    on window: (positives: [RelevancePair], context: [RelevancePair]),
    table: ImageFeatureTable,
    configuration: LearnerConfiguration,
    passes: Int
) {
    var queryInputs = QueryInputs(buckets: trainer.scoringModel.hashBuckets)
    for epoch in 0..<passes {
        let examples = TrainingData.examples(
            window.positives,
            context: window.context,
            grade: \.recentGrade,
            table: table,
            queryInputs: &queryInputs,
            negatives: configuration.negatives,
            hardNegatives: configuration.inQueryNegatives,
            seed: configuration.seed,
            epoch: epoch
        )
        var start = 0
        while start < examples.count {
            let end = min(start + max(1, configuration.batchSize), examples.count)
            _ = trainer.step(examples[start..<end])
            start = end
        }
    }
}

/// Polls `condition` every 100 ms for up to 60 s.
private func eventually(_ condition: () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}
