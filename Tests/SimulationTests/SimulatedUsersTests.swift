import ClickLog
import Foundation
import Model
import Simulation
import Testing

@Suite struct SimulatedUsersTests {
    /// A page of the visit's candidates in an order unrelated to relevance (a seeded shuffle), so the position bias
    /// is not confounded with the ranking's quality.
    static func shuffledPage(_ visit: SimulatedUsers.Visit) -> [String] {
        var rng = SplitMix64(seed: UInt64(visit.number) &+ 11)
        return visit.candidates.shuffled(using: &rng)
    }

    /// Observed clicks per rank and the clicks the model expects per rank, with the variance of their difference.
    struct RankCheck {
        var observed: [Double]
        var expected: [Double]
        var variance: [Double]

        init(ranks: Int) {
            observed = [Double](repeating: 0, count: ranks)
            expected = observed
            variance = observed
        }

        mutating func add(rank: Int, probability: Double) {
            expected[rank] += probability
            variance[rank] += probability * (1 - probability)
        }

        /// Ranks whose click count is more than `sigmas` standard deviations from what the model expects.
        func outliers(sigmas: Double) -> [Int] {
            observed.indices.filter { abs(observed[$0] - expected[$0]) > sigmas * variance[$0].squareRoot() }
        }
    }

    @Test func usersClickOnlyOnImagesOfThePageTheyWereShown() {
        let world = World(configuration: smallConfiguration())
        var model = UserModel()
        model.pageSize = 6
        let users = SimulatedUsers(world: world, model: model, seed: 3)
        var clicks = 0
        for number in 0..<3000 {
            let visit = users.visit(number)
            // A page with a key the world does not know: it may be shown, it is never clicked.
            let page = users.page(of: ["not-in-the-world"] + Self.shuffledPage(visit))
            #expect(page.count == 6)
            for click in users.clicks(on: page, for: visit, shifted: number % 2 == 0) {
                clicks += 1
                #expect(page.indices.contains(click.position))
                #expect(page[click.position] == click.image)
                #expect(click.image != "not-in-the-world")
            }
        }
        #expect(clicks > 100)
    }

    @Test func clickThroughByPositionFollowsTheConfiguredExaminationProbabilities() {
        let world = World(configuration: smallConfiguration())
        let images = Dictionary(uniqueKeysWithValues: world.images.enumerated().map { ($1.key, $0) })
        for exponent in [0.0, 1.2] {
            var model = UserModel()
            model.examination = .positionBased(exponent: exponent)
            let users = SimulatedUsers(world: world, model: model, seed: 5)
            var check = RankCheck(ranks: world.configuration.resultsPerPage)
            for number in 0..<20_000 {
                let visit = users.visit(number)
                let page = Self.shuffledPage(visit)
                for (rank, key) in page.enumerated() {
                    let concept = world.trainingQueries[visit.query].concept
                    let intent = world.trainingQueries[visit.query].intent
                    let attractiveness = world.attractiveness(image: images[key]!, concept: concept, intent: intent)
                    check.add(rank: rank, probability: 1 / pow(Double(rank + 1), exponent) * attractiveness)
                }
                for click in users.clicks(on: page, for: visit, shifted: false) { check.observed[click.position] += 1 }
            }
            // Each rank's count is a sum of independent Bernoulli draws: within 4.5 standard deviations of its
            // mean (a false alarm about once in 150 000 ranks; the seed makes the test deterministic anyway).
            #expect(check.outliers(sigmas: 4.5).isEmpty, "exponent \(exponent)")
            let firstOverLast = check.observed[0] / check.observed[check.observed.count - 1]
            if exponent == 0 {
                #expect(abs(firstOverLast - 1) < 0.2)
            } else {
                // 20^1.2 ≈ 36: the top rank gets tens of times the clicks of the last.
                #expect(firstOverLast > 15)
            }
        }
    }

    @Test func cascadeUsersClickAtMostOnceAndOnlyBelowWhatTheySkipped() {
        let world = World(configuration: smallConfiguration())
        let images = Dictionary(uniqueKeysWithValues: world.images.enumerated().map { ($1.key, $0) })
        var model = UserModel()
        model.examination = .cascade
        let users = SimulatedUsers(world: world, model: model, seed: 9)
        var check = RankCheck(ranks: world.configuration.resultsPerPage)
        for number in 0..<20_000 {
            let visit = users.visit(number)
            let page = Self.shuffledPage(visit)
            var reached = 1.0
            for (rank, key) in page.enumerated() {
                let query = world.trainingQueries[visit.query]
                let a = world.attractiveness(image: images[key]!, concept: query.concept, intent: query.intent)
                check.add(rank: rank, probability: reached * a)
                reached *= 1 - a
            }
            let clicks = users.clicks(on: page, for: visit, shifted: false)
            #expect(clicks.count <= 1)
            for click in clicks { check.observed[click.position] += 1 }
        }
        #expect(check.outliers(sigmas: 4.5).isEmpty)
    }

    @Test func afterTheShiftUsersOfShiftedConceptsClickByTheTagsAndEveryOtherUserClicksAsBefore() {
        let world = World(configuration: smallConfiguration())
        let images = Dictionary(uniqueKeysWithValues: world.images.enumerated().map { ($1.key, $0) })
        let users = SimulatedUsers(world: world, model: UserModel(), seed: 13)
        // Clicks of shifting queries on images of other concepts, which the pixels (visual intent) almost never
        // want and the tags (textual intent) sometimes do, against what each intent expects on the same pages.
        var expected: [Intent: Double] = [.visual: 0, .textual: 0]
        var variance: [Intent: Double] = [.visual: 0, .textual: 0]
        var before = 0.0
        var after = 0.0
        var unchanged = 0
        for number in 0..<6000 {
            let visit = users.visit(number)
            let page = Self.shuffledPage(visit)
            let original = users.clicks(on: page, for: visit, shifted: false)
            let shifted = users.clicks(on: page, for: visit, shifted: true)
            let query = world.trainingQueries[visit.query]
            guard query.shifts else {
                #expect(original == shifted)
                unchanged += 1
                continue
            }
            let otherConcept = page.indices.filter { world.images[images[page[$0]]!].concept != query.concept }
            for rank in otherConcept {
                for intent in [Intent.visual, .textual] {
                    let p =
                        users.model.examinationProbability(rank: rank)!
                        * world.attractiveness(image: images[page[rank]]!, concept: query.concept, intent: intent)
                    expected[intent]! += p
                    variance[intent]! += p * (1 - p)
                }
            }
            before += Double(original.filter { otherConcept.contains($0.position) }.count)
            after += Double(shifted.filter { otherConcept.contains($0.position) }.count)
        }
        func deviation(_ observed: Double, from intent: Intent) -> Double {
            abs(observed - expected[intent]!) / variance[intent]!.squareRoot()
        }
        #expect(unchanged > 0)
        // Before the shift the shifting users click as visual intent expects (a count within 4.5 standard
        // deviations of its mean); after it, as textual intent does, and far from what visual intent would give.
        #expect(deviation(before, from: .visual) < 4.5, "\(before) \(expected)")
        #expect(deviation(after, from: .textual) < 4.5, "\(after) \(expected)")
        #expect(deviation(after, from: .visual) > 10, "\(after) \(expected)")
    }

    @Test func visitsAreTheWorldsQueriesWithTheirCandidatesAndDeterministicFromTheSeed() {
        let world = World(configuration: smallConfiguration())
        let users = SimulatedUsers(world: world, model: UserModel(), seed: 21)
        let again = SimulatedUsers(world: world, model: UserModel(), seed: 21)
        let other = SimulatedUsers(world: world, model: UserModel(), seed: 22)
        var queries = Set<Int>()
        var differs = false
        for number in 0..<2000 {
            let visit = users.visit(number)
            #expect(visit == again.visit(number))
            #expect(visit.text == world.trainingQueries[visit.query].text)
            #expect(visit.candidates == world.trainingQueries[visit.query].shown.map { world.images[$0].key })
            #expect(visit.session == "sim-21-\(number)")
            let page = Self.shuffledPage(visit)
            #expect(
                users.clicks(on: page, for: visit, shifted: false) == again.clicks(on: page, for: visit, shifted: false)
            )
            if other.visit(number).query != visit.query { differs = true }
            queries.insert(visit.query)
        }
        #expect(differs)
        // Uniform over the 120 training queries: 2000 draws miss one with probability ~120 · e^(-16.7).
        #expect(queries.count == world.trainingQueries.count)
    }

    @Test func aClickEventParsesWithItsPageSessionAndRanking() throws {
        let world = World(configuration: smallConfiguration())
        let users = SimulatedUsers(world: world, model: UserModel(), seed: 1)
        let visit = users.visit(4)
        let page = Self.shuffledPage(visit)
        let click = SimulatedUsers.PageClick(position: 3, image: page[3])
        let micros: Int64 = 1_767_225_600_000_000
        for ranking in [nil, "r-123"] {
            let line = SimulatedUsers.eventJSON(
                click,
                visit: visit,
                page: page,
                ranking: ranking,
                timestampMicros: micros
            )
            let event = try ClickLogParser().parse(line).get()
            #expect(event.query == visit.text)
            #expect(event.image == page[3])
            #expect(event.clicks == 1)
            #expect(event.position == 3)
            #expect(event.impressions == page)
            #expect(event.session == visit.session)
            #expect(event.timestampMicros == micros)
            let decoded = try JSONSerialization.jsonObject(with: Data(line.utf8))
            let object = try #require(decoded as? [String: Any])
            #expect(object["ranking"] as? String == ranking)
        }
    }

    @Test func theTallyCountsPagesImpressionsAndClickThroughByRank() {
        var tally = SimulatedTrafficTally()
        tally.record(pageLength: 3, clicks: [.init(position: 0, image: "a"), .init(position: 2, image: "c")])
        tally.record(pageLength: 2, clicks: [.init(position: 0, image: "a")])
        tally.record(pageLength: 3, clicks: [])
        #expect(tally.pages == 3)
        #expect(tally.impressions == 8)
        #expect(tally.clicks == 3)
        #expect(tally.meanClickedPosition == 2.0 / 3)
        #expect(tally.clickThrough(rank: 0) == 2.0 / 3)
        #expect(tally.clickThrough(rank: 1) == 0)
        #expect(tally.clickThrough(rank: 2) == 0.5)
        #expect(tally.clickThrough(rank: 7) == 0)
    }

    @Test func aWorldConfigurationRoundTripsThroughItsFile() throws {
        var configuration = smallConfiguration(seed: 99)
        configuration.visualShare = 0.3
        configuration.positionBiasExponent = 0.9
        let data = try JSONEncoder().encode(configuration)
        #expect(try JSONDecoder().decode(WorldConfiguration.self, from: data) == configuration)
    }
}
