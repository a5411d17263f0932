/// How each image's encoding block (``EncodedImage``) is stored: the memory a served catalog takes per image against
/// the score error it adds. Scoring kernels always compute in float32; a compact block is decoded into a float
/// scratch block for the one image being scored (`Docs/serving.md`, "Compact encodings").
public enum EncodingPrecision: String, Sendable, Hashable, CaseIterable {
    /// 4 bytes a value, exactly as encoded: scoring encoded images is bit-identical to scoring raw features.
    case float32
    /// IEEE half precision, 2 bytes a value (rounded to nearest, ties to even; magnitudes clamped to 65504).
    case float16
    /// 1 byte a value: each group of ``int8GroupSize`` consecutive values of a block shares one float32 scale
    /// (its largest magnitude over 127), 1.125 bytes a value.
    case int8

    /// Values sharing one scale in ``int8``: a block is padded to a whole number of groups.
    public static let int8GroupSize = 32

    /// Elements a block of `count` values takes in storage of this precision (``int8`` pads to whole groups).
    func storedCount(_ count: Int) -> Int {
        switch self {
        case .float32, .float16: count
        case .int8: (count + Self.int8GroupSize - 1) / Self.int8GroupSize * Self.int8GroupSize
        }
    }

    /// Bytes `storedCount` elements take, scales included.
    func byteCount(storedCount: Int) -> Int {
        switch self {
        case .float32: storedCount * MemoryLayout<Float>.size
        case .float16: storedCount * MemoryLayout<UInt16>.size
        case .int8: storedCount + storedCount / Self.int8GroupSize * MemoryLayout<Float>.size
        }
    }
}
