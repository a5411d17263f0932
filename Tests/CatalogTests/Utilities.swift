import Catalog

/// SplitMix64: a small seeded generator, so test data is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Catalog lines in both forms, written the way producers write them.
enum CatalogLines {
    /// Standard base64 with padding.
    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out = [UInt8]()
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let n = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<4 {
                out.append(
                    position <= chunk.count ? alphabet[Int(n >> (18 - 6 * UInt32(position)) & 63)] : UInt8(ascii: "=")
                )
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func littleEndianBytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { value -> [UInt8] in
            let bits = value.bitPattern
            return [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)]
        }
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func keywords(_ keywords: [String]) -> String {
        "[" + keywords.map(jsonString).joined(separator: ",") + "]"
    }

    /// `{"image", "keywords", "regions": [[…]…]}` with each float in its shortest round-tripping text.
    static func plain(key: String, keywords: [String], regions: [Float], rows: Int, columns: Int) -> String {
        var text = "{\"image\": \(jsonString(key)), \"keywords\": \(self.keywords(keywords)), \"regions\": ["
        for row in 0..<rows {
            if row > 0 { text += ", " }
            text += "[" + regions[(row * columns)..<((row + 1) * columns)].map { "\($0)" }.joined(separator: ", ") + "]"
        }
        return text + "]}"
    }

    /// `{"image", "keywords", "regions_b64", "shape"}`.
    static func compact(key: String, keywords: [String], regions: [Float], rows: Int, columns: Int) -> String {
        "{\"image\":\(jsonString(key)),\"keywords\":\(self.keywords(keywords)),"
            + "\"regions_b64\":\"\(base64(littleEndianBytes(regions)))\",\"shape\":[\(rows),\(columns)]}"
    }

    static func randomRegions(count: Int, using rng: inout SplitMix64) -> [Float] {
        (0..<count).map { _ in Float.random(in: -3...3, using: &rng) }
    }
}

extension CatalogImage {
    /// The regions' bit patterns, for bit-exact comparisons (−0 ≠ +0, NaN payloads kept).
    var regionBits: [UInt32] { regions.map(\.bitPattern) }
}
