/// DSSM letter-trigram word hashing with a stable FNV-1a hash.
///
/// Each whitespace-separated word `w` of an (already normalised) text is padded to `#w#`; every window
/// of three Unicode scalars is hashed (32-bit FNV-1a over its UTF-8 bytes) modulo the bucket count.
/// The text's input vector is the bag of buckets with counts.
public enum LetterTrigramHasher {
    /// 32-bit FNV-1a over bytes. Stable across processes and platforms (unlike `Hasher`).
    /// - Parameter bytes: The bytes to hash.
    /// - Returns: The hash.
    public static func fnv1a<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var hash: UInt32 = 0x811c_9dc5
        for byte in bytes {
            hash ^= UInt32(byte)
            hash &*= 0x0100_0193
        }
        return hash
    }

    /// The letter trigrams of one word, in order (`"ab"` → `["#ab", "ab#"]`).
    /// - Parameter word: A word without whitespace.
    /// - Returns: The padded three-scalar windows (empty for an empty word).
    public static func trigrams(of word: Substring) -> [String] {
        guard !word.isEmpty else { return [] }
        var scalars: [Unicode.Scalar] = ["#"]
        scalars.append(contentsOf: word.unicodeScalars)
        scalars.append("#")
        var result: [String] = []
        result.reserveCapacity(scalars.count - 2)
        for start in 0..<(scalars.count - 2) {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[start..<(start + 3)])
            result.append(String(view))
        }
        return result
    }

    /// The bucket of one trigram.
    /// - Parameters:
    ///   - trigram: A trigram.
    ///   - buckets: Bucket count (> 0).
    /// - Returns: `fnv1a(utf8) % buckets`.
    public static func bucket(of trigram: String, buckets: Int) -> Int {
        Int(fnv1a(trigram.utf8) % UInt32(buckets))
    }

    /// Encodes a text as a sparse bag of trigram buckets.
    /// - Parameters:
    ///   - text: A normalised text (words separated by whitespace).
    ///   - buckets: Bucket count (> 0).
    /// - Returns: Sorted bucket indices with their counts.
    public static func encode(_ text: String, buckets: Int) -> SparseVector {
        precondition(buckets > 0 && buckets <= Int(Int32.max), "bucket count out of range")
        var bucketsSeen: [Int32] = []
        var scalars: [Unicode.Scalar] = []
        for word in text.split(whereSeparator: { $0.isWhitespace }) {
            // The buckets of `trigrams(of: word)`, hashed from the scalars' UTF-8 without building the strings.
            scalars.removeAll(keepingCapacity: true)
            scalars.append("#")
            scalars.append(contentsOf: word.unicodeScalars)
            scalars.append("#")
            for start in 0..<(scalars.count - 2) {
                var hash: UInt32 = 0x811c_9dc5
                for scalar in scalars[start..<(start + 3)] {
                    for byte in scalar.utf8 {
                        hash ^= UInt32(byte)
                        hash &*= 0x0100_0193
                    }
                }
                bucketsSeen.append(Int32(hash % UInt32(buckets)))
            }
        }
        bucketsSeen.sort()
        var indices: [Int32] = []
        var counts: [Float] = []
        for index in bucketsSeen {
            if let last = indices.last, last == index {
                counts[counts.count - 1] += 1
            } else {
                indices.append(index)
                counts.append(1)
            }
        }
        return SparseVector(indices: indices, counts: counts)
    }
}
