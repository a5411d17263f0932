import Testing

@testable import ClickLog

@Suite struct JSONValueTests {
    func parse(_ text: String, maxDepth: Int = 16) -> Result<JSONValue, JSONSyntaxError> {
        var text = text
        return text.withUTF8 { buffer in
            Result { () throws(JSONSyntaxError) -> JSONValue in try JSONValue.parse(buffer, maxDepth: maxDepth) }
        }
    }

    func value(_ text: String) throws -> JSONValue { try parse(text).get() }

    @Test func scalarsParse() throws {
        #expect(try value("null") == .null)
        #expect(try value("true") == .bool(true))
        #expect(try value("false") == .bool(false))
        #expect(try value(#""hi""#) == .string("hi"))
        #expect(try value(#""""#) == .string(""))
    }

    @Test(arguments: [
        "0", "-0", "7", "-12", "2147483648", "99999999999999999999", "1.5", "-0.25", "1e3", "1E+3", "12.5e-3",
    ])
    func numbersKeepTheirExactText(text: String) throws {
        #expect(try value(text) == .number(text))
    }

    @Test func surroundingWhitespaceIsAllowed() throws {
        #expect(try value(" \n\t 1 \r\n") == .number("1"))
    }

    @Test func containersParseInOrder() throws {
        #expect(try value("[]") == .array([]))
        #expect(try value("{}") == .object([]))
        #expect(try value(#"[1, "a", [null]]"#) == .array([.number("1"), .string("a"), .array([.null])]))
        #expect(
            try value(#"{"b": 1, "a": [true, null], "c": {}}"#)
                == .object([("b", .number("1")), ("a", .array([.bool(true), .null])), ("c", .object([]))])
        )
    }

    @Test func duplicateKeysAreKeptByTheReader() throws {
        #expect(try value(#"{"a":1,"a":2}"#) == .object([("a", .number("1")), ("a", .number("2"))]))
    }

    @Test func objectEqualityIsOrderSensitive() {
        let ab = JSONValue.object([("a", .number("1")), ("b", .number("2"))])
        let ba = JSONValue.object([("b", .number("2")), ("a", .number("1"))])
        #expect(ab != ba)
        #expect(ab == .object([("a", .number("1")), ("b", .number("2"))]))
        #expect(JSONValue.number("1") != .number("1.0"))
        #expect(JSONValue.string("1") != .number("1"))
    }

    @Test(arguments: [
        (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{08}\u{0C}\n\r\t"),
        (#""\u00e9\u00E9""#, "\u{E9}\u{E9}"),
        (#""\u0000""#, "\u{0}"),
        (#""a\u0041b""#, "aAb"),
        (#""\ud83d\ude00""#, "😀"),
        (#""\uD834\uDD1E!""#, "𝄞!"),
        (#""x\uDBFF\uDFFFy""#, "x\u{10FFFF}y"),
        (#""\uFFFF""#, "\u{FFFF}"),
        ("\"raw é 東京 😀\"", "raw é 東京 😀"),
        ("\"e\\u0301\"", "e\u{301}"),
    ])
    func stringEscapesDecode(json: String, expected: String) throws {
        let parsed = try value(json)
        guard case .string(let text) = parsed else {
            Issue.record("expected a string, got \(parsed.typeName)")
            return
        }
        expectSameBytes(text, expected)
    }

    @Test(arguments: [
        ("", "unexpected end of input", 0),
        ("   ", "unexpected end of input", 3),
        ("nul", "unexpected end of input", 0),
        ("nulL", "invalid literal", 0),
        ("True", "unexpected character", 0),
        ("01", "unexpected data after the JSON value", 1),
        ("1 2", "unexpected data after the JSON value", 2),
        ("-", "invalid number", 1),
        ("-a", "invalid number", 1),
        ("1.", "invalid number", 2),
        ("1.e5", "invalid number", 2),
        ("1e", "invalid number", 2),
        ("1e+", "invalid number", 3),
        ("+1", "unexpected character", 0),
        (".5", "unexpected character", 0),
        ("[1,]", "unexpected character", 3),
        ("[1 2]", "expected ',' or ']' in array", 3),
        ("[1", "unterminated array", 2),
        ("[", "unexpected end of input", 1),
        (#"{"a" 1}"#, "expected ':' in object", 5),
        (#"{"a":1"#, "unterminated object", 6),
        (#"{"a":1,}"#, "expected a string key in object", 7),
        ("{1:2}", "expected a string key in object", 1),
        (#""abc"#, "unterminated string", 4),
        (#""a\"#, "unterminated string", 3),
        (#""\x""#, "invalid escape in string", 3),
        (#""\u12""#, "short \\u escape", 3),
        (#""\u12G4""#, "invalid \\u escape", 5),
        (#""\ud800""#, "unpaired surrogate in \\u escape", 7),
        (#""\ud800\u0041""#, "unpaired surrogate in \\u escape", 13),
        (#""\ud800\ud800""#, "unpaired surrogate in \\u escape", 13),
        (#""\udc00""#, "unpaired surrogate in \\u escape", 7),
        ("\"a\u{01}\"", "control character in string", 2),
        ("\"a\nb\"", "control character in string", 2),
        ("\"\u{1F}\"", "control character in string", 1),
        ("'a'", "unexpected character", 0),
    ])
    func syntaxErrorsReportMessageAndOffset(text: String, message: String, offset: Int) throws {
        let error = try #require(parse(text).failure)
        #expect(error.message == message)
        #expect(error.offset == offset)
    }

    @Test func nestingIsBoundedByMaxDepth() throws {
        func nested(_ depth: Int) -> String {
            String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        }
        // The outermost value is at depth 0, so 17 nested arrays reach depth 16: the deepest allowed.
        #expect(parse(nested(17)).success != nil)
        let error = try #require(parse(nested(18)).failure)
        #expect(error.message == "nesting deeper than 16")
        #expect(error.offset == 17)

        #expect(try parse("[]", maxDepth: 0).get() == .array([]))
        #expect(parse("[1]", maxDepth: 0).failure?.offset == 1)
        #expect(parse(#"{"a":{"b":1}}"#, maxDepth: 1).failure?.message == "nesting deeper than 1")
    }

    @Test func typeNamesAreForErrorMessages() {
        #expect(JSONValue.null.typeName == "null")
        #expect(JSONValue.bool(true).typeName == "a boolean")
        #expect(JSONValue.number("1").typeName == "a number")
        #expect(JSONValue.string("").typeName == "a string")
        #expect(JSONValue.array([]).typeName == "an array")
        #expect(JSONValue.object([]).typeName == "an object")
    }
}

/// ``JSONObjectFields/objectTexts(_:)``: each object of an array member as compact JSON text that parses back to the
/// same value (numbers spelled as given, strings re-escaped, repeated names kept).
@Suite struct JSONObjectTextsTests {
    func fields(_ text: String) throws -> JSONObjectFields {
        var text = text
        return try text.withUTF8 { try JSONObjectFields(parsing: $0) }
    }

    @Test func eachObjectIsWrittenAsCompactJSONThatParsesBackToIt() throws {
        let body = #"{"items": [ {"k": "a\"b\\c\u0001\nd é", "n": 1.50e3, "z": [true, null, -0], "k": {}} , {}]}"#
        let texts = try #require(try fields(body).objectTexts("items"))
        #expect(texts == [#"{"k":"a\"b\\c\u0001\u000ad é","n":1.50e3,"z":[true,null,-0],"k":{}}"#, "{}"])
        let reparsed = try JSONValueTests().value(texts[0])
        #expect(
            reparsed
                == .object([
                    ("k", .string("a\"b\\c\u{1}\nd é")), ("n", .number("1.50e3")),
                    ("z", .array([.bool(true), .null, .number("-0")])), ("k", .object([])),
                ])
        )
    }

    @Test func absentNullAndWrongTypesAreToldApart() throws {
        #expect(try fields(#"{"items": null}"#).objectTexts("items") == nil)
        #expect(try fields("{}").objectTexts("items") == nil)
        #expect(throws: ClickLogError.self) { try fields(#"{"items": {}}"#).objectTexts("items") }
        do {
            _ = try fields(#"{"items": [{}, 5]}"#).objectTexts("items")
            Issue.record("an element that is not an object was accepted")
        } catch let error as ClickLogError {
            #expect(error.detail == "field 'items[1]' must be an object, got \"5\"")
        }
    }
}
