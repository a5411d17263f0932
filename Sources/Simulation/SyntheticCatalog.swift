import ClickLog
import Model

/// A catalog of any size whose every line is a pure function of the seed and the image's index, so a catalog of
/// 10⁶ images can be written as a stream without ever being held in memory: random regions (uniform in [-1, 1)),
/// keywords of one or two pseudo-words (`w0`…) from a fixed vocabulary, keys `syn0000001`…. Queries are two or three
/// vocabulary words, so they hash into the same buckets as the keywords.
public struct SyntheticCatalog: Sendable {
    /// Images in the catalog.
    public var count: Int
    /// Region cells per image (R).
    public var regions: Int
    /// Numbers per region (D).
    public var dimension: Int
    /// Keywords per image: this many on average (± 4, at least 1).
    public var keywords: Int
    /// Distinct pseudo-words.
    public var vocabulary: Int
    /// Every image, query and candidate set is derived from it.
    public var seed: UInt64

    /// - Parameters:
    ///   - count: Images.
    ///   - regions: R.
    ///   - dimension: D.
    ///   - keywords: Keywords per image on average.
    ///   - vocabulary: Distinct pseudo-words.
    ///   - seed: The catalog's seed.
    public init(count: Int, regions: Int, dimension: Int, keywords: Int, vocabulary: Int = 5000, seed: UInt64) {
        self.count = count
        self.regions = regions
        self.dimension = dimension
        self.keywords = keywords
        self.vocabulary = vocabulary
        self.seed = seed
    }

    /// The key of image `index` (`syn` and seven or more digits).
    public func key(_ index: Int) -> String {
        let digits = String(index)
        return "syn" + String(repeating: "0", count: max(0, 7 - digits.count)) + digits
    }

    /// Image `index` as one catalog line in the compact form (`regions_b64` + `shape`), ending in `\n`.
    public func line(_ index: Int) -> String {
        var generator = generator(for: index, stream: 1)
        let keywordCount = max(1, keywords - 4 + Int(generator.next() % 9))
        var words: [String] = []
        words.reserveCapacity(keywordCount)
        for _ in 0..<keywordCount {
            var keyword = word(&generator)
            if generator.next() % 2 == 0 { keyword += " " + word(&generator) }
            words.append(keyword)
        }
        var cells = [Float]()
        cells.reserveCapacity(regions * dimension)
        for _ in 0..<(regions * dimension) {
            cells.append(Float(Double(generator.next() >> 11) / Double(1 << 53) * 2 - 1))
        }
        var out = "{\"image\":" + JSONStringLiteral.quoted(key(index)) + ",\"keywords\":["
        out += words.map(JSONStringLiteral.quoted).joined(separator: ",")
        out += "],\"regions_b64\":\"" + Base64.encode(littleEndian: cells) + "\",\"shape\":[\(regions),\(dimension)]}\n"
        return out
    }

    /// Query `index` of the catalog's query stream: two or three vocabulary words.
    public func query(_ index: Int) -> String {
        var generator = generator(for: index, stream: 2)
        let length = 2 + Int(generator.next() % 2)
        return (0..<length).map { _ in word(&generator) }.joined(separator: " ")
    }

    /// `count` distinct image indexes drawn uniformly from the catalog for request `index` (`count` ≤ the catalog).
    public func candidates(_ index: Int, count: Int) -> [Int] {
        precondition(count <= self.count, "no more candidates than images")
        var generator = generator(for: index, stream: 3)
        var chosen = Set<Int>()
        var ordered: [Int] = []
        while ordered.count < count {
            let image = Int(generator.next() % UInt64(self.count))
            if chosen.insert(image).inserted { ordered.append(image) }
        }
        return ordered
    }

    private func word(_ generator: inout SplitMix64) -> String {
        "w\(generator.next() % UInt64(vocabulary))"
    }

    private func generator(for index: Int, stream: UInt64) -> SplitMix64 {
        var mixer = SplitMix64(seed: seed &+ stream &* 0x9E37_79B9_7F4A_7C15)
        return SplitMix64(seed: mixer.next() ^ UInt64(index))
    }
}
