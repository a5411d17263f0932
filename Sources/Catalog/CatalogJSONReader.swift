import ClickLog

/// A strict JSON (RFC 8259) reader specialised for one catalog line, on top of a ``JSONScanner``.
///
/// It walks the line once and builds the image's fields directly: region numbers go straight into a `[Float]`
/// without an intermediate tree or a `String` per number. Syntax errors throw at once (`invalid_json`); the first
/// semantic problem (wrong type, ragged rows, NaN, …) is remembered in ``problem`` while the walk continues, so a
/// line that is not JSON at all is always reported as `invalid_json` first.
struct CatalogJSONReader {
    /// What the walk collected.
    struct Fields {
        var image: String?
        var keywords: [String]?
        var keywordsSeen = Set<String>()
        var regions: [Float]?
        var regionRows = 0
        var regionColumns: Int?
        var base64: [UInt8]?
        var shape: [Int]?
        var shapeValid = true
    }

    var json: JSONScanner
    let maxDepth = 64
    var fields = Fields()
    /// The first semantic problem, reported when the line is otherwise valid JSON.
    var problem: CatalogLineError?

    init(bytes: UnsafeBufferPointer<UInt8>) {
        json = JSONScanner(bytes: bytes)
    }

    mutating func note(_ error: CatalogLineError) {
        if problem == nil { problem = error }
    }

    // MARK: - The record

    /// Reads the whole line: one object, surrounded by optional whitespace.
    mutating func readRecord() throws(JSONSyntaxError) {
        json.skipWhitespace()
        guard !json.isAtEnd else { throw json.error("empty line") }
        guard json.peek(UInt8(ascii: "{")) else {
            let type = valueType
            try skipValue(depth: 0)
            try expectEnd()
            note(.wrongType("the line is \(type), not a JSON object"))
            return
        }
        var seen: Set<String> = []
        if json.enter(.object) {
            repeat {
                let keyOffset = json.index
                let key = try json.memberKey()
                switch key {
                case "image", "keywords", "regions", "regions_b64", "shape":
                    guard seen.insert(key).inserted else {
                        throw JSONSyntaxError(message: "field '\(key)' appears twice", offset: keyOffset)
                    }
                default: break
                }
                switch key {
                case "image": try readImage()
                case "keywords": try readKeywords()
                case "regions": try readRegions()
                case "regions_b64": try readBase64()
                case "shape": try readShape()
                default: try skipValue(depth: 1)  // unknown fields are ignored (forward compatibility)
                }
            } while try json.next(in: .object)
        }
        try expectEnd()
    }

    mutating func expectEnd() throws(JSONSyntaxError) {
        json.skipWhitespace()
        guard json.isAtEnd else { throw json.error("unexpected data after the JSON object") }
    }

    // MARK: - Fields

    mutating func readImage() throws(JSONSyntaxError) {
        guard json.peek(UInt8(ascii: "\"")) else {
            note(.wrongType("field 'image' must be a string, not \(valueType)"))
            return try skipValue(depth: 1)
        }
        fields.image = try json.string()
    }

    mutating func readKeywords() throws(JSONSyntaxError) {
        guard json.peek(UInt8(ascii: "[")) else {
            note(.wrongType("field 'keywords' must be an array of strings, not \(valueType)"))
            return try skipValue(depth: 1)
        }
        var keywords: [String] = []
        var position = 0
        try elements(depth: 1) { reader throws(JSONSyntaxError) in
            defer { position += 1 }
            guard reader.json.peek(UInt8(ascii: "\"")) else {
                reader.note(
                    .wrongType("keywords[\(position)] must be a string, not \(reader.valueType)")
                )
                return try reader.skipValue(depth: 2)
            }
            let raw = try reader.json.string()
            guard position < CatalogParser.maxKeywords else {
                reader.note(.tooLarge("more than \(CatalogParser.maxKeywords) keywords"))
                return
            }
            guard raw.utf8.count <= CatalogParser.maxKeywordBytes else {
                reader.note(
                    .tooLarge(
                        "keywords[\(position)] is \(raw.utf8.count) bytes (limit \(CatalogParser.maxKeywordBytes))"
                    )
                )
                return
            }
            for scalar in raw.unicodeScalars
            where scalar.properties.generalCategory == .control && !scalar.properties.isWhitespace {
                reader.note(
                    .invalidKeyword(
                        "keywords[\(position)] contains the control character U+\(hex4(scalar.value))"
                    )
                )
                return
            }
            keywords.append(raw)
        }
        fields.keywords = keywords
    }

    mutating func readRegions() throws(JSONSyntaxError) {
        guard json.peek(UInt8(ascii: "[")) else {
            note(.wrongType("field 'regions' must be an array of arrays of numbers, not \(valueType)"))
            return try skipValue(depth: 1)
        }
        var values: [Float] = []
        var row = 0
        var columns: Int?
        var overLimit = false
        try elements(depth: 1) { reader throws(JSONSyntaxError) in
            defer { row += 1 }
            guard reader.json.peek(UInt8(ascii: "[")) else {
                reader.note(
                    .wrongType(
                        "regions[\(row)] must be an array of numbers, not \(reader.valueType)"
                    )
                )
                return try reader.skipValue(depth: 2)
            }
            var column = 0
            try reader.elements(depth: 2) { reader throws(JSONSyntaxError) in
                defer { column += 1 }
                guard let value = try reader.regionNumber(row: row, column: column) else { return }
                if values.count >= CatalogParser.maxCells {
                    if !overLimit {
                        reader.note(.tooLarge("regions has more than \(CatalogParser.maxCells) values"))
                        overLimit = true
                    }
                    return
                }
                values.append(value)
            }
            if column == 0 {
                reader.note(.shapeMismatch("regions[\(row)] is empty"))
            } else if let expected = columns {
                if column != expected {
                    reader.note(
                        .shapeMismatch(
                            "regions rows differ in length: regions[\(row)] has \(column), regions[0] has \(expected)"
                        )
                    )
                }
            } else {
                columns = column
            }
        }
        if row == 0 { note(.shapeMismatch("regions has no rows")) }
        fields.regions = values
        fields.regionRows = row
        fields.regionColumns = columns
    }

    /// One region value: a number, or `NaN`/`Infinity`/`-Infinity` (as Python's `json` writes them), which are
    /// read so the error can say `non_finite` and name the cell. Returns nil (with a problem noted) for other types.
    mutating func regionNumber(row: Int, column: Int) throws(JSONSyntaxError) -> Float? {
        guard let byte = json.current else { throw json.error("unexpected end of input") }
        if byte == UInt8(ascii: "N") || byte == UInt8(ascii: "I")
            || (byte == UInt8(ascii: "-") && json.index + 1 < json.bytes.count
                && json.bytes[json.index + 1] == UInt8(ascii: "I"))
        {
            for word: StaticString in ["NaN", "Infinity", "-Infinity"] {
                guard json.skip(word) else { continue }
                note(.nonFinite("regions[\(row)][\(column)] is \(word)"))
                return .nan
            }
            throw json.error("unexpected character")
        }
        guard json.atNumber else {
            note(.wrongType("regions[\(row)][\(column)] must be a number, not \(valueType)"))
            try skipValue(depth: 3)
            return nil
        }
        let span = try json.numberSpan()
        let value = CatalogFloatParser.parse(UnsafeBufferPointer(rebasing: json.bytes[span]))
        if !value.isFinite {
            note(.nonFinite("regions[\(row)][\(column)] = \(excerpt(json.text(span))) is outside the float32 range"))
        }
        return value
    }

    mutating func readBase64() throws(JSONSyntaxError) {
        guard json.peek(UInt8(ascii: "\"")) else {
            note(.wrongType("field 'regions_b64' must be a string, not \(valueType)"))
            return try skipValue(depth: 1)
        }
        // Fast path: no escapes, decode straight from the line's bytes.
        let bytes = json.bytes
        let start = json.index + 1
        var end = start
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20
        {
            end += 1
        }
        let decoded: Result<[UInt8], CatalogBase64.Failure>
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            json.index = end + 1
            decoded = Result { () throws(CatalogBase64.Failure) in
                try CatalogBase64.decode(UnsafeBufferPointer(rebasing: bytes[start..<end]))
            }
        } else {
            var text = try json.string()
            decoded = text.withUTF8 { utf8 in
                Result { () throws(CatalogBase64.Failure) in try CatalogBase64.decode(utf8) }
            }
        }
        switch decoded {
        case .success(let decodedBytes): fields.base64 = decodedBytes
        case .failure(let failure): note(.badBase64("regions_b64 is not base64: \(failure.message)"))
        }
    }

    mutating func readShape() throws(JSONSyntaxError) {
        guard json.peek(UInt8(ascii: "[")) else {
            note(.wrongType("field 'shape' must be an array [R, D], not \(valueType)"))
            return try skipValue(depth: 1)
        }
        var shape: [Int] = []
        var valid = true
        try elements(depth: 1) { reader throws(JSONSyntaxError) in
            guard reader.json.atNumber else {
                valid = false
                return try reader.skipValue(depth: 2)
            }
            let text = try reader.json.number()
            if let value = Int(text), value > 0 { shape.append(value) } else { valid = false }
        }
        fields.shape = shape
        fields.shapeValid = valid && shape.count == 2
    }

    // MARK: - Generic JSON

    /// The JSON type of the value at the scanner's index (judged by its first byte), for messages.
    var valueType: String {
        guard let byte = json.current else { return "nothing" }
        switch byte {
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "an array"
        case UInt8(ascii: "\""): return "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
        case UInt8(ascii: "n"): return "null"
        default: return "a number"
        }
    }

    /// Calls `body` with the reader positioned at each element of the array at the scanner's index.
    mutating func elements(
        depth: Int,
        _ body: (inout CatalogJSONReader) throws(JSONSyntaxError) -> Void
    ) throws(JSONSyntaxError) {
        guard depth <= maxDepth else { throw json.error("nesting deeper than \(maxDepth)") }
        guard json.enter(.array) else { return }
        repeat {
            try body(&self)
        } while try json.next(in: .array)
    }

    /// Skips one value of any type, checking its syntax.
    mutating func skipValue(depth: Int) throws(JSONSyntaxError) {
        try json.skipValue(depth: depth, maxDepth: maxDepth)
    }
}

/// `0041`-style upper-case hex of a scalar value, at least four digits.
func hex4(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

/// The text, cut to 40 characters for messages.
func excerpt(_ text: String) -> String {
    text.count > 40 ? String(text.prefix(40)) + "…" : text
}
