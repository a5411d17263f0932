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
}
