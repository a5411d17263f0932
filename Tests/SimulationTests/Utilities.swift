import Foundation
import Simulation

/// A small world that generates quickly but keeps every mechanism.
func smallConfiguration(seed: UInt64 = 7) -> WorldConfiguration {
    var c = WorldConfiguration()
    c.concepts = 8
    c.images = 400
    c.trainingQueries = 120
    c.heldOutQueries = 30
    c.seed = seed
    return c
}

/// Lines of a generated text, without the final empty one.
func lines(_ text: String) -> [String] {
    text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
}

/// Decodes base64 of little-endian float32 back into floats.
func decodeFloats(_ base64: String) -> [Float]? {
    guard let data = Data(base64Encoded: base64), data.count % 4 == 0 else { return nil }
    let bytes = [UInt8](data)
    return stride(from: 0, to: bytes.count, by: 4).map { i in
        let bits =
            UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
        return Float(bitPattern: bits)
    }
}
