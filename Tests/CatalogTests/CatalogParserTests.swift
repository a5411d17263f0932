import Testing

@testable import Catalog

@Suite struct CatalogParserTests {
    // MARK: - Good lines

    @Test func bothFormsGiveTheSameImage() throws {
        var rng = SplitMix64(seed: 7)
        var regions = CatalogLines.randomRegions(count: 16 * 32, using: &rng)
        regions[0] = -0.0
        regions[1] = Float.leastNonzeroMagnitude  // subnormal
        regions[2] = Float(bitPattern: 0x0001_16C2)  // subnormal, about 1e-40
        regions[3] = .greatestFiniteMagnitude
        regions[4] = 3  // printed as "3.0"
        let keywords = ["Red  Car", "red car", "  ", "BLUE", "Straße"]
        let plain = try CatalogParser.parse(
            CatalogLines.plain(key: "img-1", keywords: keywords, regions: regions, rows: 16, columns: 32),
            expectedDimension: nil
        )
        let compact = try CatalogParser.parse(
            CatalogLines.compact(key: "img-1", keywords: keywords, regions: regions, rows: 16, columns: 32),
            expectedDimension: 32
        )
        #expect(plain == compact)
        #expect(plain.regionBits == regions.map(\.bitPattern))
        #expect(compact.regionBits == regions.map(\.bitPattern))
        #expect(plain.key == "img-1")
        #expect(plain.regionCount == 16)
        #expect(plain.regionDimension == 32)
        // Normalised like queries; the empty one dropped; the repeat kept once, in first-appearance order.
        #expect(plain.keywords == ["red car", "blue", "straße"])
        #expect(plain.region(1) == regions[32..<64])
    }

    @Test func numbersMayBeIntegersOrDecimalsInAnyJSONSpelling() throws {
        let image = try CatalogParser.parse(
            #"{"regions": [[1, -2, 0.5, 1e2, -0, 2.5E-3, 0.1]], "keywords": [], "image": "k", "extra": {"x": [null]}}"#,
            expectedDimension: nil
        )
        #expect(image.regionBits == [1, -2, 0.5, 100, -0.0, 0.0025, 0.1].map { (value: Float) in value.bitPattern })
        #expect(image.regionCount == 1)
        #expect(image.regionDimension == 7)
    }

    @Test func decimalTextIsRoundedToTheNearestFloat() {
        // Compare with the standard library's correctly rounded conversion, including long and extreme decimals.
        var rng = SplitMix64(seed: 11)
        var texts = [
            "1.000000059604644775390625",  // exactly halfway between 1 and its successor: ties to even → 1
            "1.000000059604644775390626",  // just above halfway → the successor
            "1.0000000596046447753906249",  // just below → 1
            "3.4028235e38", "3.4028236e38", "1e-45", "7e-46", "1.17549435e-38", "123456789012345678901234567890",
            "0.000000000000000000000000000000000000000000001", "16777217", "9007199254740993", "0.30000001192092896",
        ]
        for _ in 0..<20000 {
            // Any magnitude, as a double's and a float's shortest text.
            let double = Double(bitPattern: rng.next() & 0x7FFF_FFFF_FFFF_FFFF)
            guard double.isFinite, double < 1e30, double > 1e-30 else { continue }
            texts.append("\(double)")
            texts.append("\(Float(double))")
        }
        for _ in 0..<20000 {
            // Typical feature values: a float's shortest text, the same float printed as a double (17 digits, as
            // numpy's tolist() and Python's json write float32 data), and a random 17-digit double.
            let float = Float.random(in: -4...4, using: &rng)
            texts.append("\(float)")
            texts.append("\(Double(float))")
            texts.append("\(Double.random(in: -4...4, using: &rng))")
        }
        // Doubles just around the points halfway between adjacent floats.
        for _ in 0..<2000 {
            let float = Float.random(in: 0.001...100, using: &rng)
            let halfway = (Double(float) + Double(float.nextUp)) / 2
            for ulps in -3...3 {
                texts.append("\(Double(bitPattern: UInt64(Int64(halfway.bitPattern) + Int64(ulps))))")
            }
        }
        for text in texts {
            let parsed = text.utf8.withContiguousStorageIfAvailable { CatalogFloatParser.parse($0) }!
            let expected = Float(text)!
            #expect(parsed.bitPattern == expected.bitPattern, "\(text)")
        }
    }

    @Test func surroundingWhitespaceCRAndUnknownFieldsAreFine() throws {
        let image = try CatalogParser.parse(
            " {\"image\":\"k\",\"keywords\":[\"a\\u0020b\"],\"regions\":[[1],[2]],\"source\":\"x\"}\r",
            expectedDimension: 1
        )
        #expect(image.keywords == ["a b"])
        #expect(image.regions == [1, 2])
    }

    @Test func aLeadingByteOrderMarkIsSkipped() throws {
        let image = try CatalogParser.parse(
            "\u{FEFF}{\"image\":\"k\",\"keywords\":[\"a\"],\"regions\":[[1]]}",
            expectedDimension: 1
        )
        #expect(Array(image.key.utf8) == Array("k".utf8))
        expectError(
            "{\"image\":\"k\u{FEFF}\",\"keywords\":[],\"regions\":[[1]]} \u{FEFF}",
            "invalid_json",
            "unexpected"
        )
    }

    @Test func shapeBesideRegionsMustAgree() throws {
        let agreeing = try CatalogParser.parse(
            #"{"image":"k","keywords":[],"regions":[[1,2,3]],"shape":[1,3]}"#,
            expectedDimension: nil
        )
        #expect(agreeing.regionDimension == 3)
        expectError(#"{"image":"k","keywords":[],"regions":[[1,2,3]],"shape":[3,1]}"#, "shape_mismatch", "disagrees")
    }

    @Test func unpaddedBase64IsAccepted() throws {
        // Two floats = 8 bytes = "AACAPwAAAEA=" padded; without the "=" it is the same data.
        let image = try CatalogParser.parse(
            #"{"image":"k","keywords":[],"regions_b64":"AACAPwAAAEA","shape":[1,2]}"#,
            expectedDimension: nil
        )
        #expect(image.regions == [1, 2])
    }

    // MARK: - Every error code

    func expectError(
        _ line: String,
        _ code: String,
        _ fragment: String,
        expectedDimension: Int? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let image = try CatalogParser.parse(line, expectedDimension: expectedDimension)
            Issue.record("accepted \(image.key): \(line.prefix(120))", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.message.contains(fragment), "\(error)", sourceLocation: sourceLocation)
            #expect(error.description == "\(error.code): \(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func invalidJSON() {
        expectError(#"{"image": "a", "keywords": [], "regions": [[1]]"#, "invalid_json", "unterminated object")
        expectError("not json", "invalid_json", "invalid literal at byte 1")
        expectError("{\"image\": x}", "invalid_json", "unexpected character at byte 11")
        expectError("", "invalid_json", "empty line")
        expectError(#"{"image": "a", "keywords": [], "regions": [[1, 2,]]}"#, "invalid_json", "byte")
        expectError(#"{"image": "a", "keywords": [], "regions": [[01]]}"#, "invalid_json", "expected ',' or ']'")
        expectError(#"{"image": "a", "image": "b", "keywords": [], "regions": [[1]]}"#, "invalid_json", "twice")
        // A syntax error wins over a semantic problem earlier in the line.
        expectError(#"{"image": 5, "keywords": [}"#, "invalid_json", "byte")
    }

    @Test(arguments: [
        (#"{"image": nul"#, "invalid literal at byte 11"),
        (#"{"image": "a", "x": tru"#, "invalid literal at byte 21"),
        (#"{"image": "a", "x": nul}"#, "invalid literal at byte 21"),
        (#"{"image": "a", "keywords": [], "regions": [[1, 2]], "extra": {"k": nul}}"#, "invalid literal at byte 68"),
        (#"{"image": "a", "keywords": [], "regions": [[1, -Inf]]}"#, "unexpected character at byte 48"),
        (#"{"image": "a", "keywords": [], "regions": [[1, Nope]]}"#, "unexpected character at byte 48"),
        (#"{"image": "a", "keywords": [], "regions": [[1, 2.]]}"#, "invalid number at byte 50"),
        (#"{"image": "a", "keywords": [], "regions": [[1, 2e+]]}"#, "invalid number at byte 51"),
        (#"{"image": "a\u12G4"}"#, "invalid \\u escape at byte 17"),
        (#"{"image": "a\ud800\u0041"}"#, "unpaired surrogate in \\u escape at byte 25"),
        (#"{"image": "a\udc00"}"#, "unpaired surrogate in \\u escape at byte 19"),
        ("{\"image\": \"a\tb\"}", "control character in string at byte 13"),
        (#"{"image": "a"} x"#, "unexpected data after the JSON object at byte 16"),
        (#"{"image" "a"}"#, "expected ':' in object at byte 10"),
        (#"{"image": "a",}"#, "expected a string key in object at byte 15"),
        (#"{"image": "a" "keywords": []}"#, "expected ',' or '}' in object at byte 15"),
        (#"{"image": "a", "keywords": [1 2]}"#, "expected ',' or ']' in array at byte 31"),
        (#"{"image": "a", "keywords": ["x""#, "unterminated array at byte 32"),
        (#"{"image": "a", "image": "b"}"#, "field 'image' appears twice at byte 16"),
        ("   ", "empty line at byte 4"),
        ("tru", "invalid literal at byte 1"),
        (#""abc"#, "unterminated string at byte 5"),
        (
            #"{"x": "# + String(repeating: "[", count: 65) + String(repeating: "]", count: 65) + "}",
            "nesting deeper than 64 at byte 71"
        ),
        (String(repeating: "[", count: 66) + String(repeating: "]", count: 66), "nesting deeper than 64 at byte 66"),
    ])
    func syntaxErrorsGiveTheExactMessageAndOffset(line: String, message: String) {
        #expect(throws: CatalogLineError(code: "invalid_json", message: message)) {
            try CatalogParser.parse(line, expectedDimension: nil)
        }
    }

    @Test func nestingUpToTheLimitIsValidJSON() {
        let nested = #"{"x": "# + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + "}"
        expectError(nested, "missing_field", "missing field 'image'")
    }

    @Test func wrongType() {
        expectError(#"{"image": 5, "keywords": [], "regions": [[1]]}"#, "wrong_type", "'image' must be a string")
        expectError(#"{"image": "a", "keywords": "x", "regions": [[1]]}"#, "wrong_type", "'keywords' must be")
        expectError(#"{"image": "a", "keywords": ["x", 3], "regions": [[1]]}"#, "wrong_type", "keywords[1]")
        expectError(#"{"image": "a", "keywords": [], "regions": [[1], "2"]}"#, "wrong_type", "regions[1] must be")
        expectError(#"{"image": "a", "keywords": [], "regions": [[1, "2"]]}"#, "wrong_type", "regions[0][1]")
        expectError(#"{"image": "a", "keywords": [], "regions": {"x": 1}}"#, "wrong_type", "'regions' must be")
        expectError(#"{"image": "a", "keywords": [], "regions_b64": 5, "shape": [1, 1]}"#, "wrong_type", "regions_b64")
        expectError(
            #"{"image": "a", "keywords": [], "regions_b64": "AAAAAA==", "shape": "1x1"}"#,
            "wrong_type",
            "shape"
        )
        expectError(#"[1, 2]"#, "wrong_type", "not a JSON object")
    }

    @Test func missingField() {
        expectError(#"{"keywords": [], "regions": [[1]]}"#, "missing_field", "'image'")
        expectError(#"{"image": "a", "regions": [[1]]}"#, "missing_field", "'keywords'")
        expectError(#"{"image": "a", "keywords": []}"#, "missing_field", "'regions'")
        expectError(#"{"image": "a", "keywords": [], "regions_b64": "AACAPw=="}"#, "missing_field", "'shape'")
        expectError(#"{"image": "a", "keywords": [], "shape": [1, 1]}"#, "missing_field", "'regions_b64'")
    }

    @Test func emptyAndInvalidKeys() {
        expectError(#"{"image": "", "keywords": [], "regions": [[1]]}"#, "empty_key", "empty")
        expectError(#"{"image": "a b", "keywords": [], "regions": [[1]]}"#, "invalid_key", "whitespace")
        expectError(#"{"image": "a\u0000", "keywords": [], "regions": [[1]]}"#, "invalid_key", "U+0000")
        expectError(
            #"{"image": "a", "keywords": ["ok", "b\u0001"], "regions": [[1]]}"#,
            "invalid_keyword",
            "keywords[1]"
        )
    }

    @Test func badBase64() {
        expectError(#"{"image": "a", "keywords": [], "regions_b64": "AA*AAAAA", "shape": [1, 2]}"#, "bad_base64", "'*'")
        expectError(
            #"{"image": "a", "keywords": [], "regions_b64": "AAAAA", "shape": [1, 1]}"#,
            "bad_base64",
            "left over"
        )
        expectError(#"{"image": "a", "keywords": [], "regions_b64": "AA=A", "shape": [1, 1]}"#, "bad_base64", "'='")
        expectError(
            #"{"image": "a", "keywords": [], "regions_b64": "AAAAAB==", "shape": [1, 1]}"#,
            "bad_base64",
            "bits"
        )
    }

    @Test func shapeMismatch() {
        expectError(#"{"image": "a", "keywords": [], "regions": [[1, 2], [3]]}"#, "shape_mismatch", "regions[1] has 1")
        expectError(#"{"image": "a", "keywords": [], "regions": []}"#, "shape_mismatch", "no rows")
        expectError(#"{"image": "a", "keywords": [], "regions": [[]]}"#, "shape_mismatch", "regions[0] is empty")
        // 8 bytes of data for a 1 × 1 shape (4 bytes).
        expectError(
            #"{"image": "a", "keywords": [], "regions_b64": "AACAPwAAAEA=", "shape": [1, 1]}"#,
            "shape_mismatch",
            "holds 8 bytes"
        )
        for shape in ["[0, 2]", "[1]", "[1, 2, 3]", "[1.5, 2]", "[-1, 2]", "[1, \"2\"]"] {
            expectError(
                #"{"image": "a", "keywords": [], "regions_b64": "AACAPwAAAEA=", "shape": \#(shape)}"#,
                "shape_mismatch",
                "two positive integers"
            )
        }
    }

    @Test func nonFiniteNamesTheCell() {
        expectError(
            #"{"image": "a", "keywords": [], "regions": [[1, 2], [3, NaN]]}"#,
            "non_finite",
            "regions[1][1] is NaN"
        )
        expectError(#"{"image": "a", "keywords": [], "regions": [[-Infinity]]}"#, "non_finite", "regions[0][0]")
        expectError(#"{"image": "a", "keywords": [], "regions": [[1e39]]}"#, "non_finite", "float32 range")
        // Floats 1, 2, 3, +inf (0x7F800000) as a 2 × 2 grid.
        let bytes = CatalogLines.littleEndianBytes([1, 2, 3, .infinity])
        expectError(
            #"{"image": "a", "keywords": [], "regions_b64": "\#(CatalogLines.base64(bytes))", "shape": [2, 2]}"#,
            "non_finite",
            "value 3 (row 1, column 1) is Infinity"
        )
    }

    @Test func dimensionMismatch() {
        expectError(
            #"{"image": "a", "keywords": [], "regions": [[1, 2, 3]]}"#,
            "dimension_mismatch",
            "D is 3; the catalog's D is 4",
            expectedDimension: 4
        )
    }

    @Test func bothRegionForms() {
        expectError(
            #"{"image": "a", "keywords": [], "regions": [[1]], "regions_b64": "AACAPw==", "shape": [1, 1]}"#,
            "both_region_forms",
            "either"
        )
    }

    @Test func tooLarge() {
        expectError(
            #"{"image": "a", "keywords": [], "regions_b64": "", "shape": [2048, 1024]}"#,
            "too_large",
            "1048576"
        )
        let longKey = String(repeating: "k", count: 513)
        expectError(#"{"image": "\#(longKey)", "keywords": [], "regions": [[1]]}"#, "too_large", "513 bytes")
        let longKeyword = String(repeating: "w", count: 1025)
        expectError(#"{"image": "a", "keywords": ["\#(longKeyword)"], "regions": [[1]]}"#, "too_large", "keywords[0]")
        let manyKeywords = Array(repeating: "\"w\"", count: 10_001).joined(separator: ",")
        expectError(#"{"image": "a", "keywords": [\#(manyKeywords)], "regions": [[1]]}"#, "too_large", "10000")
    }
}
