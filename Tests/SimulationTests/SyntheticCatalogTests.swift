import Catalog
import Simulation
import Testing

/// The streamed synthetic catalog `amc bench scale` imports: every line a pure function of the seed and the index,
/// and every line one the catalog import accepts, with the shape asked for.
@Suite struct SyntheticCatalogTests {
    let catalog = SyntheticCatalog(count: 1000, regions: 4, dimension: 8, keywords: 10, seed: 42)

    @Test func linesQueriesAndCandidatesAreAFunctionOfSeedAndIndex() {
        let again = SyntheticCatalog(count: 1000, regions: 4, dimension: 8, keywords: 10, seed: 42)
        let other = SyntheticCatalog(count: 1000, regions: 4, dimension: 8, keywords: 10, seed: 43)
        for index in [0, 1, 999] {
            #expect(catalog.line(index) == again.line(index))
            #expect(catalog.line(index) != other.line(index))
            #expect(catalog.query(index) == again.query(index))
            #expect(catalog.candidates(index, count: 100) == again.candidates(index, count: 100))
        }
        #expect(catalog.line(0) != catalog.line(1))
        #expect(catalog.candidates(0, count: 100) != catalog.candidates(1, count: 100))
    }

    @Test func everyLineParsesAsACatalogImageOfTheAskedShape() throws {
        for index in 0..<200 {
            let line = catalog.line(index)
            #expect(line.hasSuffix("}\n"))
            let image = try CatalogParser.parse(String(line.dropLast()), expectedDimension: 8)
            #expect(image.key == catalog.key(index))
            #expect(image.regionCount == 4 && image.regions.count == 32)
            #expect((1...14).contains(image.keywords.count))
            #expect(image.regions.allSatisfy { $0 >= -1 && $0 <= 1 })
        }
        #expect(catalog.key(7) == "syn0000007" && catalog.key(12_345_678) == "syn12345678")
    }

    @Test func candidatesAreDistinctImagesOfTheCatalog() {
        let candidates = catalog.candidates(3, count: 1000)
        #expect(Set(candidates).count == 1000 && candidates.allSatisfy { (0..<1000).contains($0) })
        let words = catalog.query(5).split(separator: " ")
        #expect((2...3).contains(words.count) && words.allSatisfy { $0.hasPrefix("w") })
    }
}
