import Testing

@testable import Model

/// Encodings stored in half precision or 8 bits (``EncodingPrecision``): float32 stays exact, the compact forms
/// decode as documented and keep every architecture's scores within a stated bound of full precision.
@Suite struct CompactEncodingTests {
    /// Largest score change a compact encoding may cause, per architecture (scores are cosines or, for AMS, sums of
    /// a few cosines): measured on untrained models of the default dimensions (`Docs/serving.md`) with a margin.
    static let scoreErrorBounds: [EncodingPrecision: Float] = [.float16: 2e-3, .int8: 1e-2]

    @Test func everyFiniteHalfDecodesExactlyAsTheLibraryConversion() {
        let finite = (UInt16.min...UInt16.max).filter { Float16(bitPattern: $0).isFinite }
        let storage = EncodedImageStorage(count: finite.count, precision: .float16)
        let halves = storage.raw.bindMemory(to: Float16.self, capacity: finite.count)
        for (i, bits) in finite.enumerated() { halves[i] = Float16(bitPattern: bits) }
        var decoded = [Float](repeating: .nan, count: finite.count)
        // Two calls of 5 and n − 5 values, so that both the eight-lane loop and the one-value tail decode some.
        decoded.withUnsafeMutableBufferPointer {
            storage.decode(at: 0, count: 5, into: $0.baseAddress!)
            storage.decode(at: 5, count: finite.count - 5, into: $0.baseAddress! + 5)
        }
        let differing = finite.indices.filter {
            decoded[$0].bitPattern != Float(Float16(bitPattern: finite[$0])).bitPattern
        }
        #expect(differing.isEmpty, "\(differing.count) bit patterns differ, the first \(differing.prefix(5))")
    }

    @Test func int8ValuesDecodeWithinHalfAStepOfTheirGroupsScale() {
        var rng = SplitMix64(seed: 3)
        // 70 values: two whole groups and a partial one, one group all zeros.
        var values = (0..<70).map { _ in rng.nextSymmetric(3) }
        for i in 32..<64 { values[i] = 0 }
        let storage = EncodedImageStorage(count: EncodingPrecision.int8.storedCount(70), precision: .int8)
        values.withUnsafeBufferPointer { storage.store($0.baseAddress!, count: 70, at: 0) }
        var decoded = [Float](repeating: .nan, count: 70)
        decoded.withUnsafeMutableBufferPointer { storage.decode(at: 0, count: 70, into: $0.baseAddress!) }
        for group in stride(from: 0, to: 70, by: 32) {
            let range = group..<min(group + 32, 70)
            let largest = range.map { abs(values[$0]) }.max()!
            for i in range {
                #expect(abs(decoded[i] - values[i]) <= largest / 254 * 1.0001, "value \(i)")
            }
        }
        #expect(decoded[32..<64].allSatisfy { $0 == 0 })
        #expect(storage.count == 96)
    }

    @Test(arguments: ModelArchitectures.ids)
    func float32StorageScoresBitIdenticallyToRawFeatures(architecture: String) throws {
        let (model, images) = try Self.modelAndImages(architecture)
        let stored = EncodedImage.stored(model.encodeImages(images), at: .float32)
        #expect(stored.allSatisfy { $0.precision == .float32 })
        for query in ["snooki baby bump", "red car", ""] {
            let direct = model.score(query: query, images: images)
            let fast = model.score(query: model.encodeQuery(query), encodedImages: stored)
            #expect(direct.map(\.score.bitPattern) == fast.map(\.score.bitPattern))
        }
    }

    /// AMC's scoring pass reads a float16 block in place, converting as it loads; every architecture scores it as
    /// the same values decoded to a float32 block first, bit for bit.
    @Test(arguments: ModelArchitectures.ids)
    func float16BlocksScoreAsTheirDecodedValues(architecture: String) throws {
        let (model, images) = try Self.modelAndImages(architecture)
        let compact = EncodedImage.stored(model.encodeImages(images), at: .float16)
        let decoded = compact.map { image in
            let storage = EncodedImageStorage(count: image.count)
            image.withValues { storage.base.update(from: $0, count: image.count) }
            return EncodedImage(
                regionCount: image.regionCount,
                keywordCount: image.keywordCount,
                storage: storage,
                offset: 0,
                count: image.count
            )
        }
        for query in ["snooki baby bump", "red car", ""] {
            let q = model.encodeQuery(query)
            let inPlace = model.score(query: q, encodedImages: compact)
            let fromDecoded = model.score(query: q, encodedImages: decoded)
            #expect(inPlace.map(\.score.bitPattern) == fromDecoded.map(\.score.bitPattern))
            #expect(inPlace.map(\.visualWeight.bitPattern) == fromDecoded.map(\.visualWeight.bitPattern))
        }
    }

    @Test(arguments: ModelArchitectures.ids, [EncodingPrecision.float16, .int8])
    func compactEncodingsScoreWithinTheirBoundOfFullPrecision(
        architecture: String,
        precision: EncodingPrecision
    ) throws {
        let (model, images) = try Self.modelAndImages(architecture)
        let full = model.encodeImages(images)
        let compact = EncodedImage.stored(full, at: precision)
        #expect(compact.allSatisfy { $0.precision == precision })
        let fullBytes = full.reduce(0) { $0 + $1.byteCount }
        let compactBytes = compact.reduce(0) { $0 + $1.byteCount }
        #expect(compactBytes * (precision == .float16 ? 2 : 3) <= fullBytes)
        var largest: Float = 0
        for query in ["snooki baby bump", "red car", "kitten on a beach", ""] {
            let q = model.encodeQuery(query)
            let exact = model.score(query: q, encodedImages: full)
            let approximate = model.score(query: q, encodedImages: compact)
            // Explaining reads the same decoded blocks: its scores are the scoring pass's, bit for bit.
            let explained = model.explain(query: q, encodedImages: compact)
            #expect(explained.map(\.score.bitPattern) == approximate.map(\.score.bitPattern))
            for (a, b) in zip(exact, approximate) { largest = max(largest, abs(a.score - b.score)) }
        }
        let bound = try #require(Self.scoreErrorBounds[precision])
        #expect(largest <= bound, "\(architecture) \(precision): largest score change \(largest)")
        #expect(largest > 0, "a compact encoding that changes nothing stores nothing compactly")
    }

    /// An untrained model of the default dimensions and 24 images with 0–16 regions and 0–12 keywords.
    static func modelAndImages(_ architecture: String) throws -> (any ScoringModel, [ImageFeatures]) {
        let c = ModelConfiguration()
        let model = try ModelArchitectures.model(
            from: ModelArchitectures.initialParameters(
                architecture: architecture,
                seed: 11,
                hyperParameters: c.hyperParameters
            )
        )
        var rng = SplitMix64(seed: 5)
        let words = ["snooki", "baby", "bump", "beach", "red car", "kitten", "sunset", "tree", "river"]
        let images = (0..<24).map { i in
            makeImage(
                &rng,
                configuration: c,
                regionCount: [1, 4, 16][i % 3],
                keywords: (0..<(i % 13)).map { _ in words[Int(rng.next() % UInt64(words.count))] }
            )
        }
        return (model, images)
    }
}
