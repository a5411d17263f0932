import ClickLog

/// Parses image-catalog lines (JSON Lines, design §3) into ``CatalogImage`` values.
///
/// Two forms are accepted:
/// - `{"image": key, "keywords": [str, …], "regions": [[f32 × D] × R]}`: numbers may be integers or decimals;
///   each is rounded to the nearest float32.
/// - `{"image": key, "keywords": [str, …], "regions_b64": base64, "shape": [R, D]}`: standard base64 (padding
///   optional) of R·D little-endian IEEE-754 float32 values, row-major; bit patterns are kept exactly.
///
/// `shape` may also accompany `regions`, and must then agree with it. Other fields are ignored. Keywords are
/// normalised like queries (`QueryNormalizer`); empty results are dropped and repeats kept once, in order.
/// R must be at least 1. Errors are ``CatalogLineError`` values; limits are the `max…` constants.
public enum CatalogParser {
    /// Longest accepted line, in UTF-8 bytes: 32 MiB.
    public static let maxLineBytes = 32 << 20
    /// Most region values (R·D) per image: 1,048,576 (4 MiB of float32; e.g. a 14 × 14 × 512 or 7 × 7 × 2048
    /// CNN feature map is 100,352).
    public static let maxCells = 1 << 20
    /// Most keywords per image (before normalisation and de-duplication): 10,000.
    public static let maxKeywords = 10_000
    /// Longest keyword, in UTF-8 bytes before normalisation: 1024 (the click log's query limit).
    public static let maxKeywordBytes = 1024
    /// Longest image key, in UTF-8 bytes: 512 (the click log's image-key limit).
    public static let maxKeyBytes = 512

    /// Parses one JSON Lines record.
    /// - Parameters:
    ///   - line: The line, without its newline (a trailing `\r`, surrounding whitespace and a leading UTF-8
    ///     byte-order mark are allowed).
    ///   - expectedDimension: The catalog's D, if known; the image's D must equal it.
    /// - Returns: The image.
    /// - Throws: ``CatalogLineError``. A line that is not valid JSON is always `invalid_json`; otherwise the first
    ///   problem met while reading the line is reported, then (in this order) problems with `image`, a missing
    ///   `keywords`, region-form and shape problems, and last `dimension_mismatch`.
    public static func parse(_ line: String, expectedDimension: Int?) throws(CatalogLineError) -> CatalogImage {
        var line = line
        guard line.utf8.count <= maxLineBytes else {
            throw .tooLarge("the line is \(line.utf8.count) bytes (limit \(maxLineBytes))")
        }
        let result = line.withUTF8 { bytes in
            Result { () throws(CatalogLineError) in try parse(utf8: bytes, expectedDimension: expectedDimension) }
        }
        return try result.get()
    }

    /// Parses one record from UTF-8 bytes already known to be valid UTF-8 (see ``parse(_:expectedDimension:)``).
    static func parse(
        utf8 bytes: UnsafeBufferPointer<UInt8>,
        expectedDimension: Int?
    ) throws(CatalogLineError)
        -> CatalogImage
    {
        guard bytes.count <= maxLineBytes else {
            throw .tooLarge("the line is \(bytes.count) bytes (limit \(maxLineBytes))")
        }
        // A byte-order mark (a file saved with one) is not part of the record (RFC 8259 §8.1 lets parsers skip it).
        let hasBOM = bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF
        var reader = CatalogJSONReader(bytes: hasBOM ? UnsafeBufferPointer(rebasing: bytes[3...]) : bytes)
        do {
            try reader.readRecord()
        } catch {
            throw .invalidJSON("\(error.message) at byte \(error.offset + 1)")
        }
        if let problem = reader.problem { throw problem }
        let fields = reader.fields

        // The key.
        guard let key = fields.image else { throw .missingField("missing field 'image'") }
        guard !key.isEmpty else { throw .emptyKey("field 'image' is empty") }
        guard key.utf8.count <= maxKeyBytes else {
            throw .tooLarge("field 'image' is \(key.utf8.count) bytes (limit \(maxKeyBytes))")
        }
        for scalar in key.unicodeScalars
        where scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
            throw .invalidKey(
                "field 'image' \(excerpt(key).debugDescription) contains whitespace or a control character "
                    + "(U+\(hex4(scalar.value)))"
            )
        }

        // Keywords.
        guard let rawKeywords = fields.keywords else { throw .missingField("missing field 'keywords'") }
        var keywords: [String] = []
        keywords.reserveCapacity(rawKeywords.count)
        var seen = Set<String>(minimumCapacity: rawKeywords.count)
        for raw in rawKeywords {
            let keyword = QueryNormalizer.normalize(raw)
            if !keyword.isEmpty, seen.insert(keyword).inserted { keywords.append(keyword) }
        }

        // Regions.
        let rows: Int
        let columns: Int
        let regions: [Float]
        switch (fields.regions, fields.base64) {
        case (.some, .some):
            throw .bothRegionForms("give either 'regions' or 'regions_b64' with 'shape', not both")
        case (nil, nil):
            if fields.shape != nil {
                throw .missingField("missing field 'regions_b64' (a 'shape' was given)")
            }
            throw .missingField("missing field 'regions' (or 'regions_b64' with 'shape')")
        case (let values?, nil):
            rows = fields.regionRows
            columns = fields.regionColumns ?? 0
            if let shape = fields.shape {
                guard fields.shapeValid else { throw shapeNotTwoPositiveIntegers() }
                guard shape == [rows, columns] else {
                    throw .shapeMismatch(
                        "shape [\(shape[0]), \(shape[1])] disagrees with regions, which is \(rows) × \(columns)"
                    )
                }
            }
            regions = values
        case (nil, let bytes?):
            guard let shape = fields.shape else {
                throw .missingField("missing field 'shape' ([R, D]) for 'regions_b64'")
            }
            guard fields.shapeValid else { throw shapeNotTwoPositiveIntegers() }
            rows = shape[0]
            columns = shape[1]
            let (cells, overflow) = rows.multipliedReportingOverflow(by: columns)
            guard !overflow, cells <= maxCells else {
                throw .tooLarge("shape [\(rows), \(columns)] has more than \(maxCells) values")
            }
            guard bytes.count == cells * 4 else {
                throw .shapeMismatch(
                    "regions_b64 holds \(bytes.count) bytes; shape [\(rows), \(columns)] needs "
                        + "\(rows)·\(columns)·4 = \(cells * 4)"
                )
            }
            regions = littleEndianFloats(bytes)
            if let bad = regions.firstIndex(where: { !$0.isFinite }) {
                throw .nonFinite(
                    "regions_b64 value \(bad) (row \(bad / columns), column \(bad % columns)) is \(name(regions[bad]))"
                )
            }
        }

        if let expectedDimension, columns != expectedDimension {
            throw .dimensionMismatch("D is \(columns); the catalog's D is \(expectedDimension)")
        }
        return CatalogImage(
            key: key,
            keywords: keywords,
            regions: regions,
            regionCount: rows,
            regionDimension: columns
        )
    }

    // MARK: - Internals

    private static func shapeNotTwoPositiveIntegers() -> CatalogLineError {
        .shapeMismatch("shape must be two positive integers [R, D]")
    }

    private static func name(_ value: Float) -> String {
        value.isNaN ? "NaN" : value < 0 ? "-Infinity" : "Infinity"
    }

    /// Reads little-endian IEEE-754 binary32 values (independent of the host's byte order).
    static func littleEndianFloats(_ bytes: [UInt8]) -> [Float] {
        let count = bytes.count / 4
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            bytes.withUnsafeBufferPointer { bytes in
                for index in 0..<count {
                    let bits =
                        UInt32(bytes[4 * index]) | UInt32(bytes[4 * index + 1]) << 8
                        | UInt32(bytes[4 * index + 2]) << 16 | UInt32(bytes[4 * index + 3]) << 24
                    out[index] = Float(bitPattern: bits)
                }
            }
            initialized = count
        }
    }
}
