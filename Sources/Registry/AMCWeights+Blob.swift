import Model

// MARK: - Versioned binary blob

extension AMCWeights {
    /// The current blob format version.
    public static let blobFormatVersion: UInt32 = 1
    private static let magic: [UInt8] = Array("AMCW".utf8)

    /// Serialises the weights (all integers and floats little-endian):
    ///
    /// ```
    /// "AMCW" | u32 version=1 | u32 hashBuckets d a h D | f32 margin | u32 tensorCount
    /// per tensor (AMCTensor order): u16 nameLength | name UTF-8 | u32 rows | u32 columns | f32 × rows·columns
    /// ```
    /// The caller (the `Learner`) adds the sha256 and stores the blob.
    /// - Returns: The blob bytes.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        var total = 40
        for tensor in AMCTensor.allCases { total += 10 + tensor.rawValue.utf8.count + self[tensor].count * 4 }
        out.reserveCapacity(total)
        out.append(contentsOf: Self.magic)
        func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        let c = configuration
        u32(Self.blobFormatVersion)
        for value in [
            c.hashBuckets, c.embeddingDimension, c.attentionDimension, c.modalityDimension, c.regionDimension,
        ] {
            u32(UInt32(value))
        }
        u32(c.margin.bitPattern)
        u32(UInt32(AMCTensor.allCases.count))
        for tensor in AMCTensor.allCases {
            let name = Array(tensor.rawValue.utf8)
            withUnsafeBytes(of: UInt16(name.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: name)
            let shape = tensor.shape(c)
            u32(UInt32(shape.rows))
            u32(UInt32(shape.columns))
            for value in self[tensor] { u32(value.bitPattern) }
        }
        return out
    }

    /// Decodes a blob written by ``serialized()``, bit-exactly.
    /// - Parameter blob: The bytes.
    /// - Throws: ``ModelError`` if the magic, version, names, shapes or length are wrong.
    public init(blob: [UInt8]) throws {
        var reader = BlobReader(bytes: blob)
        guard try reader.bytes(4) == Self.magic else { throw ModelError(.badMagic, "not an AMC weights blob") }
        let version = try reader.u32()
        guard version == Self.blobFormatVersion else {
            throw ModelError(.unsupportedVersion, "blob format version \(version) is not supported")
        }
        var c = ModelConfiguration()
        c.hashBuckets = Int(try reader.u32())
        c.embeddingDimension = Int(try reader.u32())
        c.attentionDimension = Int(try reader.u32())
        c.modalityDimension = Int(try reader.u32())
        c.regionDimension = Int(try reader.u32())
        c.margin = Float(bitPattern: try reader.u32())
        let dims = [c.hashBuckets, c.embeddingDimension, c.attentionDimension, c.modalityDimension, c.regionDimension]
        guard dims.allSatisfy({ $0 > 0 && $0 <= 1 << 24 }) else {
            throw ModelError(.shapeMismatch, "dimension out of range")
        }
        guard try reader.u32() == UInt32(AMCTensor.allCases.count) else {
            throw ModelError(.shapeMismatch, "unexpected tensor count")
        }
        self.init(zerosFor: c)
        for tensor in AMCTensor.allCases {
            let nameLength = Int(try reader.u16())
            guard try reader.bytes(nameLength) == Array(tensor.rawValue.utf8) else {
                throw ModelError(.shapeMismatch, "expected tensor \(tensor.rawValue)")
            }
            let shape = tensor.shape(c)
            guard try reader.u32() == UInt32(shape.rows), try reader.u32() == UInt32(shape.columns) else {
                throw ModelError(.shapeMismatch, "tensor \(tensor.rawValue) has the wrong shape")
            }
            try withTensor(tensor) { values in
                for i in values.indices { values[i] = Float(bitPattern: try reader.u32()) }
            }
        }
        guard reader.isAtEnd else { throw ModelError(.truncated, "trailing bytes after the last tensor") }
    }
}

private struct BlobReader {
    let bytes: [UInt8]
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }

    mutating func bytes(_ count: Int) throws -> [UInt8] {
        guard count <= bytes.count - offset else { throw ModelError(.truncated, "blob ends early") }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func u16() throws -> UInt16 {
        let b = try bytes(2)
        return UInt16(b[0]) | UInt16(b[1]) << 8
    }

    mutating func u32() throws -> UInt32 {
        guard 4 <= bytes.count - offset else { throw ModelError(.truncated, "blob ends early") }
        defer { offset += 4 }
        return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }
}
