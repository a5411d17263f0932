import Model

/// A model version's stored weights: architecture-neutral ``ModelParameters`` in a versioned binary blob, and the
/// parent's checksum when the blob holds only a fine-tune's online part.
///
/// Format 2, written by this release (all integers and floats little-endian; `str` is `u16 length | UTF-8`):
///
/// ```
/// "AMCW" | u32 format=2 | str architecture
/// | u32 hyperParameterCount | per hyper-parameter, by name: str name | f64 value
/// | u8 hasParent (0 or 1) | when 1: 32 bytes, the SHA-256 of the parent version's blob
/// | u32 tensorCount | per tensor: str name | u32 rows | u32 columns | f32 × rows·columns (row-major)
/// ```
///
/// A blob with a parent holds only the tensors its version changed (a fine-tune's online part); the full
/// parameters are the parent's with these tensors replaced (``applied(to:)``). Format 1 (AMC only, always full:
/// `"AMCW" | u32 1 | u32 H d a h D | f32 margin | u32 tensorCount | tensors as above`) still decodes.
public struct ModelBlob: Sendable, Equatable {
    /// The format version this release writes.
    public static let formatVersion: UInt32 = 2
    /// The format version of the earlier, AMC-only full blobs (still decoded).
    public static let formatVersion1: UInt32 = 1
    static let magic: [UInt8] = Array("AMCW".utf8)

    /// The parameters stored: all of them, or only the changed tensors when ``parentSHA256`` is set.
    public var parameters: ModelParameters
    /// Hex SHA-256 of the parent version's blob when this blob holds only the parent's changed tensors.
    public var parentSHA256: String?

    /// - Parameters:
    ///   - parameters: The parameters to store (only the changed tensors for a fine-tune's part).
    ///   - parentSHA256: The parent's blob checksum (64 lowercase hex digits) when `parameters` is a part.
    public init(parameters: ModelParameters, parentSHA256: String? = nil) {
        self.parameters = parameters
        self.parentSHA256 = parentSHA256
    }

    /// Whether the blob holds every parameter (no parent needed to use it).
    public var isComplete: Bool { parentSHA256 == nil }

    // MARK: - Applying a part

    /// The full parameters: `parent` with this blob's tensors in place of its own.
    /// - Parameter parent: The parent version's full parameters (verified against ``parentSHA256`` by the caller).
    /// - Throws: ``ModelError`` (`shape_mismatch`) when the architecture or hyper-parameters differ, or a tensor is
    ///   not the parent's or has another shape.
    public func applied(to parent: ModelParameters) throws -> ModelParameters {
        try parent.replacingTensors(with: parameters)
    }

    // MARK: - Encoding

    /// The blob, in format 2.
    public func encoded() -> [UInt8] {
        var writer = BlobWriter()
        var total = 64 + parameters.architecture.utf8.count + parameters.hyperParameters.count * 40
        for tensor in parameters.tensors { total += 10 + tensor.name.utf8.count + tensor.values.count * 4 }
        writer.bytes.reserveCapacity(total)
        writer.append(Self.magic)
        writer.u32(Self.formatVersion)
        writer.string(parameters.architecture)
        let hyperParameters = parameters.hyperParameters.sorted {
            Array($0.key.utf8).lexicographicallyPrecedes($1.key.utf8)
        }
        writer.u32(UInt32(hyperParameters.count))
        for (name, value) in hyperParameters {
            writer.string(name)
            writer.u64(value.bitPattern)
        }
        if let parentSHA256 {
            writer.bytes.append(1)
            writer.append(Self.digestBytes(hex: parentSHA256))
        } else {
            writer.bytes.append(0)
        }
        writer.u32(UInt32(parameters.tensors.count))
        for tensor in parameters.tensors {
            writer.string(tensor.name)
            writer.u32(UInt32(tensor.rows))
            writer.u32(UInt32(tensor.columns))
            tensor.values.withUnsafeBufferPointer { values in
                for value in values { writer.u32(value.bitPattern) }
            }
        }
        return writer.bytes
    }

    // MARK: - Decoding

    /// Decodes a format 2 or format 1 blob, bit-exactly (format 1 as AMC parameters).
    /// - Parameter blob: The bytes.
    /// - Throws: ``ModelError`` if the magic, format version, names, shapes or length are wrong.
    public init(decoding blob: [UInt8]) throws {
        var reader = BlobReader(bytes: blob)
        guard try reader.bytes(4) == Self.magic else { throw ModelError(.badMagic, "not a model weights blob") }
        switch try reader.u32() {
        case Self.formatVersion:
            try self.init(format2: &reader)
        case Self.formatVersion1:
            try self.init(format1: &reader)
        case let version:
            throw ModelError(.unsupportedVersion, "blob format version \(version) is not supported")
        }
        guard reader.isAtEnd else { throw ModelError(.truncated, "trailing bytes after the last tensor") }
    }

    private init(format2 reader: inout BlobReader) throws {
        let architecture = try reader.string()
        guard !architecture.isEmpty else { throw ModelError(.shapeMismatch, "the architecture id is empty") }
        var hyperParameters: [String: Double] = [:]
        for _ in 0..<(try reader.u32()) {
            let name = try reader.string()
            guard hyperParameters.updateValue(Double(bitPattern: try reader.u64()), forKey: name) == nil else {
                throw ModelError(.shapeMismatch, "hyper-parameter \(name) appears twice")
            }
        }
        let parentSHA256: String?
        switch try reader.bytes(1)[0] {
        case 0: parentSHA256 = nil
        case 1: parentSHA256 = Self.hex(try reader.bytes(32))
        default: throw ModelError(.shapeMismatch, "the parent flag is neither 0 nor 1")
        }
        let tensors = try Self.tensors(&reader, count: Int(try reader.u32()))
        self.init(
            parameters: ModelParameters(architecture: architecture, hyperParameters: hyperParameters, tensors: tensors),
            parentSHA256: parentSHA256
        )
    }

    /// Format 1: AMC's header (`H d a h D`, margin), then its tensors; always complete.
    private init(format1 reader: inout BlobReader) throws {
        typealias P = AMCWeights.HyperParameter
        var hyperParameters: [String: Double] = [:]
        for name in [P.hashBuckets, P.embeddingDimension, P.attentionDimension, P.modalityDimension, P.regionDimension]
        {
            hyperParameters[name] = Double(try reader.u32())
        }
        hyperParameters[P.margin] = Double(Float(bitPattern: try reader.u32()))
        let tensors = try Self.tensors(&reader, count: Int(try reader.u32()))
        self.init(
            parameters: ModelParameters(
                architecture: AMCWeights.architecture,
                hyperParameters: hyperParameters,
                tensors: tensors
            )
        )
    }

    private static func tensors(_ reader: inout BlobReader, count: Int) throws -> [NamedTensor] {
        var tensors: [NamedTensor] = []
        var names = Set<String>()
        for _ in 0..<count {
            let name = try reader.string()
            guard names.insert(name).inserted else { throw ModelError(.shapeMismatch, "tensor \(name) appears twice") }
            let rows = Int(try reader.u32())
            let columns = Int(try reader.u32())
            let (elements, overflow) = rows.multipliedReportingOverflow(by: columns)
            guard !overflow, elements <= reader.remaining / 4 else { throw ModelError(.truncated, "blob ends early") }
            tensors.append(NamedTensor(name: name, rows: rows, columns: columns, values: try reader.floats(elements)))
        }
        return tensors
    }

    // MARK: - Hex

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The 32 bytes of a hex SHA-256 (64 lowercase hex digits; anything else is a programming error).
    static func digestBytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        precondition(digits.count == 64, "a SHA-256 is 64 hex digits")
        func nibble(_ c: UInt8) -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: preconditionFailure("a SHA-256 is lowercase hex")
            }
        }
        return stride(from: 0, to: 64, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
    }
}

// MARK: - Format 1 (writing, for tests of upgrades)

extension ModelBlob {
    /// AMC parameters as a format 1 blob, as releases before format 2 wrote them (tests store such rows to check
    /// that they still load).
    /// - Parameter parameters: Complete AMC parameters.
    /// - Returns: The format 1 bytes.
    static func format1(_ parameters: ModelParameters) -> [UInt8] {
        typealias P = AMCWeights.HyperParameter
        var writer = BlobWriter()
        writer.append(magic)
        writer.u32(formatVersion1)
        for name in [P.hashBuckets, P.embeddingDimension, P.attentionDimension, P.modalityDimension, P.regionDimension]
        {
            writer.u32(UInt32(parameters.hyperParameters[name] ?? 0))
        }
        writer.u32(Float(parameters.hyperParameters[P.margin] ?? 0).bitPattern)
        writer.u32(UInt32(parameters.tensors.count))
        for tensor in parameters.tensors {
            writer.string(tensor.name)
            writer.u32(UInt32(tensor.rows))
            writer.u32(UInt32(tensor.columns))
            for value in tensor.values { writer.u32(value.bitPattern) }
        }
        return writer.bytes
    }
}

// MARK: - Bytes

private struct BlobWriter {
    var bytes: [UInt8] = []

    mutating func append(_ more: [UInt8]) { bytes.append(contentsOf: more) }

    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }

    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }

    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        precondition(utf8.count <= Int(UInt16.max), "names are at most 65535 bytes")
        withUnsafeBytes(of: UInt16(utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: utf8)
    }
}

private struct BlobReader {
    let bytes: [UInt8]
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    mutating func bytes(_ count: Int) throws -> [UInt8] {
        guard count <= remaining else { throw ModelError(.truncated, "blob ends early") }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func string() throws -> String {
        let length = Int(try u16())
        guard let value = String(validating: try bytes(length), as: UTF8.self) else {
            throw ModelError(.shapeMismatch, "a name is not UTF-8")
        }
        return value
    }

    mutating func u16() throws -> UInt16 {
        let b = try bytes(2)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }

    mutating func u32() throws -> UInt32 {
        guard 4 <= remaining else { throw ModelError(.truncated, "blob ends early") }
        defer { offset += 4 }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }

    mutating func u64() throws -> UInt64 {
        let low = UInt64(try u32())
        return low | UInt64(try u32()) << 32
    }

    /// `count` little-endian f32 values.
    mutating func floats(_ count: Int) throws -> [Float] {
        guard count <= remaining / 4 else { throw ModelError(.truncated, "blob ends early") }
        let start = offset
        offset += count * 4
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                for i in 0..<count {
                    buffer[i] = Float(
                        bitPattern: UInt32(
                            littleEndian: raw.loadUnaligned(fromByteOffset: start + i * 4, as: UInt32.self)
                        )
                    )
                }
            }
            initialized = count
        }
    }
}
