import Model
import Testing

@Suite struct LetterTrigramHasherTests {
    @Test func fnv1aMatchesReferenceVectors() {
        #expect(LetterTrigramHasher.fnv1a([UInt8]()) == 0x811c_9dc5)
        #expect(LetterTrigramHasher.fnv1a(Array("a".utf8)) == 0xe40c_292c)
    }

    @Test func trigramsArePaddedWindows() {
        #expect(LetterTrigramHasher.trigrams(of: "snooki") == ["#sn", "sno", "noo", "ook", "oki", "ki#"])
        #expect(LetterTrigramHasher.trigrams(of: "a") == ["#a#"])
        #expect(LetterTrigramHasher.trigrams(of: "") == [])
    }

    @Test func snookiHashesToExactBuckets() {
        let buckets = LetterTrigramHasher.trigrams(of: "snooki").map {
            LetterTrigramHasher.bucket(of: $0, buckets: 4096)
        }
        #expect(buckets == [3303, 2033, 1935, 3992, 3250, 2798])
        let bag = LetterTrigramHasher.encode("snooki", buckets: 4096)
        #expect(bag.indices == [1935, 2033, 2798, 3250, 3303, 3992])
        #expect(bag.counts == [1, 1, 1, 1, 1, 1])
        #expect(LetterTrigramHasher.encode("snooki", buckets: 4096) == bag)
    }

    /// `encode` hashes the scalars directly; it must give the buckets of the documented trigram strings, also for
    /// multi-byte scalars (accents, CJK, emoji with modifiers) and several spaces.
    @Test func encodeEqualsTheTrigramStrings() {
        for text in ["snooki baby bump", "café crème", "東京 タワー", "👍🏽 ok", "a  b\tc", "x", ""] {
            for buckets in [4096, 97] {
                var expected: [Int32: Float] = [:]
                for word in text.split(whereSeparator: { $0.isWhitespace }) {
                    for trigram in LetterTrigramHasher.trigrams(of: word) {
                        expected[Int32(LetterTrigramHasher.bucket(of: trigram, buckets: buckets)), default: 0] += 1
                    }
                }
                let bag = LetterTrigramHasher.encode(text, buckets: buckets)
                #expect(bag.indices == expected.keys.sorted(), "\(text)")
                #expect(bag.counts == expected.keys.sorted().map { expected[$0]! }, "\(text)")
            }
        }
    }

    @Test func repeatedTrigramsAreCounted() {
        let bag = LetterTrigramHasher.encode("aaaa aaaa", buckets: 4096)
        // Per word: "#aa", "aaa" ×2, "aa#"; two words.
        #expect(bag.counts.reduce(0, +) == 8)
        #expect(bag.counts.sorted() == [2, 2, 4])
    }

    @Test func typoRobustness() {
        let a = LetterTrigramHasher.encode("snooki baby bump", buckets: 4096)
        let b = LetterTrigramHasher.encode("snooki baby bur", buckets: 4096)
        let unrelated = LetterTrigramHasher.encode("red sports car", buckets: 4096)
        #expect(a.cosine(b) > 0.5)
        #expect(a.cosine(unrelated) < 0.2)
    }

    @Test func queryInputHashesEachWordOnItsOwnAndTheWholeQueryAsOneBag() {
        let input = QueryInput("red  sports car", buckets: 4096)
        #expect(input.text == "red  sports car")
        #expect(input.bag == LetterTrigramHasher.encode("red sports car", buckets: 4096))
        #expect(input.wordBags == ["red", "sports", "car"].map { LetterTrigramHasher.encode($0, buckets: 4096) })
        #expect(QueryInput("", buckets: 4096).wordBags.isEmpty)
        let example = TrainingExample(
            query: input,
            positive: ImageFeatures(regions: [], regionCount: 0, keywords: []),
            negatives: []
        )
        #expect(example.queryWords == input.wordBags && example.query == input.bag)
    }
}
