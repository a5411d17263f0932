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
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var pendingSpace = false
        for byte in bytes {
            if isASCIIWhitespace(byte) {
                pendingSpace = !out.isEmpty
                continue
            }
            if pendingSpace {
                out.append(0x20)
                pendingSpace = false
            }
            out.append(byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte)
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isASCIIWhitespace(_ byte: UInt8) -> Bool {
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
