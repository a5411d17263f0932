import ClickLog
import Foundation
import Simulation
import Testing

@Suite struct WorldTests {
    @Test func generationIsDeterministicFromTheSeed() {
        let a = World(configuration: smallConfiguration())
        let b = World(configuration: smallConfiguration())
        #expect(a.catalogJSONL() == b.catalogJSONL())
        #expect(a.clicksTSV(a.clicks()) == b.clicksTSV(b.clicks()))
        #expect(a.clicksTSV(a.clicks(shifted: true)) == b.clicksTSV(b.clicks(shifted: true)))
        #expect(a.devLabelsTSV() == b.devLabelsTSV())
        #expect(a.clickEventsJSONL(a.clicks()) == b.clickEventsJSONL(b.clicks()))
        let c = World(configuration: smallConfiguration(seed: 8))
        #expect(a.catalogJSONL() != c.catalogJSONL())
    }

    @Test func defaultsMatchTheBrief() {
        let c = WorldConfiguration()
        #expect(c.concepts == 50 && c.images == 5000 && c.regions == 16 && c.dimension == 32)
        #expect(c.minKeywords == 10 && c.maxKeywords == 100)
        #expect(c.trainingQueries == 2000 && c.heldOutQueries == 500 && c.candidatesPerHeldOutQuery == 30)
        #expect(c.visualShare == 0.5 && c.seed == 42)
        #expect(c.problem == nil)
        var bad = c
        bad.images = 50
        #expect(bad.problem != nil)
    }

    @Test func everyClickLineParsesAsATriad() throws {
        let world = World(configuration: smallConfiguration())
        let text = world.clicksTSV(world.clicks())
        let parser = ClickLogParser()
        let all = lines(text)
        #expect(!all.isEmpty)
        for line in all {
            let event = try parser.parse(line).get()
            #expect(event.form == .triad)
            #expect(event.clicks >= 1)
            #expect(event.query == QueryNormalizer.normalize(event.query))
        }
    }

    @Test func everyJSONEventParsesWithImpressions() throws {
        let world = World(configuration: smallConfiguration())
        let parser = ClickLogParser()
        let all = lines(world.clickEventsJSONL(world.clicks()))
        #expect(!all.isEmpty)
        for line in all.prefix(500) {
            let event = try parser.parse(line).get()
            let impressions = try #require(event.impressions)
            let position = try #require(event.position)
            #expect(impressions[Int(position)] == event.image)
            #expect(event.timestampMicros != nil)
        }
    }

    @Test func everyCatalogLineDecodesToTheStatedShape() throws {
        let c = smallConfiguration()
        let world = World(configuration: c)
        let all = lines(world.catalogJSONL())
        #expect(all.count == c.images)
        var keys = Set<String>()
        for line in all {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let key = try #require(object["image"] as? String)
            #expect(keys.insert(key).inserted)
            let keywords = try #require(object["keywords"] as? [String])
            #expect((10...100).contains(keywords.count))
            #expect(Set(keywords).count == keywords.count)
            let shape = try #require(object["shape"] as? [Int])
            #expect(shape == [c.regions, c.dimension])
            let base64 = try #require(object["regions_b64"] as? String)
            let floats = try #require(decodeFloats(base64))
            #expect(floats.count == shape[0] * shape[1])
            #expect(floats.allSatisfy { $0.isFinite })
        }
    }

    @Test func heldOutCandidatesNeverAppearInTrainingClicks() {
        let world = World(configuration: smallConfiguration())
        let clicked = Set(
            (lines(world.clicksTSV(world.clicks())) + lines(world.clicksTSV(world.clicks(shifted: true))))
                .map { String($0.split(separator: "\t")[0]) }
        )
        let shown = Set(world.trainingQueries.flatMap(\.shown))
        let training = Set(world.trainingQueries.map(\.text))
        for query in world.heldOutQueries {
            #expect(!training.contains(query.text))
            for candidate in query.candidates {
                #expect(!clicked.contains(world.images[candidate.image].key))
                #expect(!shown.contains(candidate.image))
            }
        }
    }

    @Test func labelsAreClicktureLabelsAndEveryQueryHasARelevantCandidate() {
        let c = smallConfiguration()
        let world = World(configuration: c)
        var byQuery: [String: [String]] = [:]
        for line in lines(world.devLabelsTSV()) {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            #expect(fields.count == 3)
            #expect(["Excellent", "Good", "Bad"].contains(fields[2]))
            byQuery[fields[0], default: []].append(fields[2])
        }
        #expect(byQuery.count == c.heldOutQueries)
        for (query, labels) in byQuery {
            #expect(labels.count == c.candidatesPerHeldOutQuery, "\(query)")
            #expect(labels.contains("Excellent") || labels.contains("Good"), "\(query)")
        }
    }

    @Test func positionBiasIsVisible() {
        let world = World(configuration: smallConfiguration())
        let events = world.clicks().events
        let rank0 = events.filter { $0.position == 0 }.count
        let rank9 = events.filter { $0.position == 9 }.count
        #expect(rank0 > rank9)
        #expect(world.examination(rank: 0) == 1)
        #expect(abs(world.examination(rank: 9) - 1 / pow(10, 0.7)) < 1e-12)
    }

    @Test func shiftedStreamDiffersOnlyForShiftedQueries() {
        let world = World(configuration: smallConfiguration())
        #expect(world.trainingQueries.contains { $0.shifts })
        #expect(world.trainingQueries.allSatisfy { !$0.shifts || $0.intent == .visual })
        let original = world.clicks()
        let shifted = world.clicks(shifted: true)
        func grouped(_ stream: SimulatedClicks) -> [Int: [SimulatedClicks.Triad]] {
            Dictionary(grouping: stream.triads, by: \.query)
        }
        let a = grouped(original)
        let b = grouped(shifted)
        var differing = 0
        for (q, query) in world.trainingQueries.enumerated() {
            if query.shifts {
                if a[q] != b[q] { differing += 1 }
            } else {
                #expect(a[q] == b[q], "\(query.text)")
            }
        }
        #expect(differing > 0)
    }

    @Test func aShiftMovesWholeVisualConceptsAndRelabelsOnlyTheirHeldOutQueriesByTheirTags() {
        let world = World(configuration: smallConfiguration())
        let shifting = world.concepts.filter(\.shifts)
        #expect(!shifting.isEmpty)
        #expect(shifting.allSatisfy { $0.intent == .visual })
        #expect(world.trainingQueries.allSatisfy { $0.shifts == world.concepts[$0.concept].shifts })

        let original = world.devLabelsTSV().split(separator: "\n")
        let shifted = world.devLabelsTSV(shifted: true).split(separator: "\n")
        #expect(original.count == shifted.count)
        var index = 0
        var relabelled = 0
        for query in world.heldOutQueries {
            for candidate in query.candidates {
                let fields = shifted[index].split(separator: "\t").map(String.init)
                #expect(fields[0] == query.text && fields[1] == world.images[candidate.image].key)
                if world.concepts[query.concept].shifts {
                    let agreement = world.tagAgreement(image: candidate.image, concept: query.concept)
                    let expected = agreement >= 0.3 ? "Excellent" : agreement >= 0.1 ? "Good" : "Bad"
                    #expect(fields[2] == expected)
                    if shifted[index] != original[index] { relabelled += 1 }
                } else {
                    #expect(shifted[index] == original[index])
                }
                index += 1
            }
        }
        #expect(relabelled > 0)
    }

    @Test func clicksFollowPixelsForVisualIntentAndTagsForTextualIntent() {
        let world = World(configuration: smallConfiguration())
        var visualOnConcept = 0
        var visualTotal = 0
        var clickedAgreement = 0.0
        var clickedCount = 0
        var shownAgreement = 0.0
        var shownCount = 0
        for triad in world.clicks().triads {
            let query = world.trainingQueries[triad.query]
            if query.intent == .visual {
                visualTotal += triad.clicks
                if world.images[triad.image].concept == query.concept { visualOnConcept += triad.clicks }
            } else {
                clickedAgreement +=
                    Double(triad.clicks) * world.tagAgreement(image: triad.image, concept: query.concept)
                clickedCount += triad.clicks
            }
        }
        for query in world.trainingQueries where query.intent == .textual {
            for image in query.shown {
                shownAgreement += world.tagAgreement(image: image, concept: query.concept)
                shownCount += 1
            }
        }
        #expect(visualTotal > 0 && clickedCount > 0)
        #expect(Double(visualOnConcept) / Double(visualTotal) > 0.8)
        #expect(clickedAgreement / Double(clickedCount) > 1.5 * shownAgreement / Double(shownCount))
    }
}
