import Foundation

/// The one query normalisation of the product (design §3): Unicode NFKC, lower-case, whitespace collapsed to
/// single spaces and trimmed. The result is the Kafka message key and the relevance-pair key.
public enum QueryNormalizer {
    /// Normalises a query. ASCII input takes an allocation-light fast path; anything else goes through
    /// Foundation's NFKC mapping and Unicode lower-casing.
    public static func normalize(_ query: some StringProtocol) -> String {
        let ascii =
            query.utf8.withContiguousStorageIfAvailable { normalizeASCII($0) } ?? normalizeASCII(Array(query.utf8))
        if let ascii { return ascii }
        let folded = String(query).precomposedStringWithCompatibilityMapping.lowercased()
            .precomposedStringWithCompatibilityMapping
        return collapseWhitespace(folded)
    }

    /// Normalises UTF-8 bytes already known to be valid; nil when the bytes are not ASCII.
    static func normalizeASCII(_ bytes: some Collection<UInt8>) -> String? {
        if let result = bytes.withContiguousStorageIfAvailable({ normalizeASCII($0) }) { return result }
        return Array(bytes).withUnsafeBufferPointer { normalizeASCII($0) }
    }

    /// Normalises bytes in place; nil when they are not ASCII. The result is written straight into the new
    /// string's storage (no intermediate array).
    static func normalizeASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var needsWork = false
        var previousSpace = true
        for byte in bytes {
            if byte >= 0x80 { return nil }
            let isSpace = isASCIIWhitespace(byte)
            if (byte >= 0x41 && byte <= 0x5A) || (isSpace && (previousSpace || byte != 0x20)) {
                needsWork = true
            }
            previousSpace = isSpace
        }
        if previousSpace && !bytes.isEmpty { needsWork = true }
        if !needsWork { return String(decoding: bytes, as: UTF8.self) }
        return String(unsafeUninitializedCapacity: bytes.count) { out in
            var count = 0
            var pendingSpace = false
            for byte in bytes {
                if isASCIIWhitespace(byte) {
                    pendingSpace = count != 0
                    continue
                }
                if pendingSpace {
                    out[count] = 0x20
                    count += 1
                    pendingSpace = false
                }
                out[count] = byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte
                count += 1
            }
            return count
        }
    }

    static func isASCIIWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    private static func collapseWhitespace(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace {
                out.append(" ")
                pendingSpace = false
            }
            out.append(scalar)
        }
        return String(out)
    }
}
