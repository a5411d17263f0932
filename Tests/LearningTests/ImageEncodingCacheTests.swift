import Catalog
import Model
import Testing

@testable import Learning

/// The learner's image encodings: kept for a lineage of models that share them, within a memory budget.
@Suite struct ImageEncodingCacheTests {
    /// AMC's default dimensions.
    static let configuration = ModelConfiguration()

    /// A catalog of `count` images of one shape: random regions and one keyword each.
    static func table(_ count: Int) -> ImageFeatureTable {
        var rng = SplitMix64(seed: 3)
        let words = ["red", "car", "snow", "kitten", "beach", "dog"]
        let images = (0..<count).map { i in
            CatalogImage(
                key: "image-\(i)",
                keywords: [words[Int(rng.next() % 6)]],
                regions: (0..<(4 * configuration.regionDimension)).map { _ in rng.nextSymmetric(1) },
                regionCount: 4,
                regionDimension: configuration.regionDimension
            )
        }
        return ImageFeatureTable(images: images, hashBuckets: configuration.hashBuckets)
    }

    @Test func returnsExactlyTheAskedImagesEncodedAsTheModelEncodesThem() {
        let table = Self.table(6)
        let model = AMCModel(weights: AMCWeights(configuration: Self.configuration, seed: 1))
        let cache = ImageEncodingCache()
        let asked = ["image-4", "image-1", "image-4", "not-in-the-catalog"]
        let encodings = cache.encodings(of: asked, by: model, table: table)
        #expect(Set(encodings.keys) == ["image-1", "image-4"])
        let query = model.encodeQuery("red car")
        for key in encodings.keys {
            let direct = model.score(query: query, encodedImages: [model.encodeImage(table[key]!)])[0].score
            let cached = model.score(query: query, encodedImages: [encodings[key]!])[0].score
            #expect(cached.bitPattern == direct.bitPattern)
        }
    }

    @Test func keepsEncodingsForAModelThatSharesThemAndStartsOverForOneThatDoesNot() throws {
        let table = Self.table(4)
        let model = AMCModel(weights: AMCWeights(configuration: Self.configuration, seed: 1))
        var tuned = model.weights
        tuned.mv[0] += 0.5  // an MTN change: image encodings shared
        let fineTune = AMCModel(weights: tuned)
        let unrelated = AMCModel(weights: AMCWeights(configuration: Self.configuration, seed: 2))
        let cache = ImageEncodingCache()
        _ = cache.encodings(of: ["image-0", "image-1"], by: model, table: table)
        let kept = cache.keptBytes
        #expect(kept > 0)
        _ = cache.encodings(of: ["image-0"], by: fineTune, table: table)
        #expect(cache.keptBytes == kept)
        _ = cache.encodings(of: ["image-2"], by: unrelated, table: table)
        #expect(cache.keptBytes < kept)
    }

    @Test func staysWithinItsBudgetButAlwaysReturnsWhatACallAsks() {
        let table = Self.table(40)
        let model = AMCModel(weights: AMCWeights(configuration: Self.configuration, seed: 1))
        let one = model.encodeImage(table["image-0"]!).byteCount
        let cache = ImageEncodingCache(memoryBudget: 10 * one)
        for start in stride(from: 0, to: 40, by: 5) {
            let keys = (start..<(start + 5)).map { "image-\($0)" }
            #expect(Set(cache.encodings(of: keys, by: model, table: table).keys) == Set(keys))
            #expect(cache.keptBytes <= 10 * one)
        }
        // One call asking for more than the budget gets every image; the next drops what it may.
        let all = (0..<40).map { "image-\($0)" }
        #expect(cache.encodings(of: all, by: model, table: table).count == 40)
        #expect(cache.keptBytes == 40 * one)
        #expect(cache.encodings(of: ["image-0"], by: model, table: table).count == 1)
        #expect(cache.keptBytes <= 10 * one)
    }
}
