import Testing

@testable import ClickLog

/// The JSON event form: `{"query", "image", "clicks"?, "ts"?, "position"?, "impressions"?, "session"?, "ranking"?}`.
@Suite struct ClickLogParserJSONTests {
    let parser = ClickLogParser()

    func rejection(_ message: String) -> ClickLogError? { parser.parse(message).failure }

    @Test func minimalEventDefaultsToOneClick() throws {
        let event = try parser.parse(#"{"query":"Red Car","image":"img001"}"#).get()
        #expect(event == ClickEvent(query: "red car", image: "img001", clicks: 1, form: .json))
    }

    @Test func allFieldsAreParsed() throws {
        let message = """
            {"query": "  Snow\\tCAT ", "image": " img2 ", "clicks": 3, "ts": "2026-11-25T21:00:00Z",
             "position": 1, "impressions": ["img1", " img2", "img3"], "session": " s-1 ", "ranking": "r-1"}
            """
        let event = try parser.parse(message).get()
        #expect(
            event
                == ClickEvent(
                    query: "snow cat",
                    image: "img2",
                    clicks: 3,
                    position: 1,
                    timestampMicros: 1_795_640_400_000_000,
                    impressions: ["img1", "img2", "img3"],
                    session: " s-1 ",
                    ranking: "r-1",
                    form: .json
                )
        )
    }

    @Test(arguments: [
        "  {\"query\":\"q\",\"image\":\"i\"}", "{\"query\":\"q\",\"image\":\"i\"}\n",
        "{\"query\":\"q\",\"image\":\"i\"}\r\n",
        "\t{ \"image\" : \"i\" ,\r\n \"query\" : \"q\" }  ",
    ])
    func surroundingWhitespaceAndFieldOrderDoNotMatter(message: String) throws {
        #expect(try parser.parse(message).get() == ClickEvent(query: "q", image: "i", clicks: 1, form: .json))
    }

    @Test func nullOptionalFieldsAreTreatedAsAbsent() throws {
        let message =
            #"{"query":"q","image":"i","clicks":null,"ts":null,"position":null,"impressions":null,"session":null}"#
        #expect(try parser.parse(message).get() == ClickEvent(query: "q", image: "i", clicks: 1, form: .json))
    }

    @Test func unknownFieldsAreIgnored() throws {
        let message = #"{"query":"q","image":"i","extra":{"nested":[1,2.5,true,null]},"v":2}"#
        #expect(try parser.parse(message).get() == ClickEvent(query: "q", image: "i", clicks: 1, form: .json))
    }

    @Test(arguments: [
        (#""clicks":1"#, Int32(1)), (#""clicks":2147483647"#, Int32.max), (#""clicks":42"#, 42),
    ])
    func validClickCountsAreAccepted(field: String, expected: Int32) throws {
        #expect(try parser.parse(#"{"query":"q","image":"i","# + field + "}").get().clicks == expected)
    }

    @Test(arguments: [
        (#"{"query":5,"image":"i"}"#, #"field 'query' must be a string, got "5""#),
        (#"{"query":null,"image":"i"}"#, "field 'query' must be a string, got null"),
        (#"{"query":["q"],"image":"i"}"#, "field 'query' must be a string, got an array"),
        (#"{"query":"q","image":null}"#, "field 'image' must be a string, got null"),
        (#"{"query":"q","image":7}"#, #"field 'image' must be a string, got "7""#),
        (#"{"query":"q","image":{}}"#, "field 'image' must be a string, got an object"),
        (
            #"{"query":"q","image":"i","clicks":"3"}"#,
            "field 'clicks' must be an integer in 1...2147483647, got a string"
        ),
        (
            #"{"query":"q","image":"i","clicks":1.5}"#,
            #"field 'clicks' must be an integer in 1...2147483647, got "1.5""#
        ),
        (
            #"{"query":"q","image":"i","clicks":1.0}"#,
            #"field 'clicks' must be an integer in 1...2147483647, got "1.0""#
        ),
        (
            #"{"query":"q","image":"i","clicks":1e2}"#,
            #"field 'clicks' must be an integer in 1...2147483647, got "1e2""#
        ),
        (
            #"{"query":"q","image":"i","clicks":true}"#,
            "field 'clicks' must be an integer in 1...2147483647, got a boolean"
        ),
        (#"{"query":"q","image":"i","clicks":0}"#, #"field 'clicks' must be an integer in 1...2147483647, got "0""#),
        (#"{"query":"q","image":"i","clicks":-0}"#, #"field 'clicks' must be an integer in 1...2147483647, got "-0""#),
        (#"{"query":"q","image":"i","clicks":-1}"#, #"field 'clicks' must be an integer in 1...2147483647, got "-1""#),
        (
            #"{"query":"q","image":"i","clicks":2147483648}"#,
            #"field 'clicks' must be an integer in 1...2147483647, got "2147483648""#
        ),
        (
            #"{"query":"q","image":"i","clicks":99999999999999999999}"#,
            #"field 'clicks' must be an integer in 1...2147483647, got "99999999999999999999""#
        ),
        (#"{"query":"q","image":"i","position":-1}"#, #"field 'position' must be an integer ≥ 0, got "-1""#),
        (#"{"query":"q","image":"i","position":"2"}"#, "field 'position' must be an integer ≥ 0, got a string"),
        (#"{"query":"q","image":"i","position":0.5}"#, #"field 'position' must be an integer ≥ 0, got "0.5""#),
        (
            #"{"query":"q","image":"i","position":2147483648}"#,
            #"field 'position' must be an integer ≥ 0, got "2147483648""#
        ),
        (
            #"{"query":"q","image":"i","ts":"2026-11-25"}"#,
            "field 'ts' must be an RFC 3339 date-time string, got a string"
        ),
        (
            #"{"query":"q","image":"i","ts":"2023-02-29T00:00:00Z"}"#,
            "field 'ts' must be an RFC 3339 date-time string, got a string"
        ),
        (
            #"{"query":"q","image":"i","ts":1795640400}"#,
            #"field 'ts' must be an RFC 3339 date-time string, got "1795640400""#
        ),
        (
            #"{"query":"q","image":"i","impressions":"img1"}"#,
            "field 'impressions' must be an array of image keys, got a string"
        ),
        (
            #"{"query":"q","image":"i","impressions":{"0":"a"}}"#,
            "field 'impressions' must be an array of image keys, got an object"
        ),
        (#"{"query":"q","image":"i","impressions":["a",3]}"#, #"field 'impressions[1]' must be a string, got "3""#),
        (#"{"query":"q","image":"i","impressions":[null]}"#, "field 'impressions[0]' must be a string, got null"),
        (#"{"query":"q","image":"i","session":7}"#, #"field 'session' must be a string, got "7""#),
        (#"{"query":"q","image":"i","session":false}"#, "field 'session' must be a string, got a boolean"),
        (#"{"query":"q","image":"i","session":[]}"#, "field 'session' must be a string, got an array"),
        (#"{"query":"q","image":"i","ranking":42}"#, #"field 'ranking' must be a string, got "42""#),
        (#"{"query":"q","image":"i","ranking":["r"]}"#, "field 'ranking' must be a string, got an array"),
        (#"{"query":"q","image":"i","ranking":true}"#, "field 'ranking' must be a string, got a boolean"),
    ])
    func wrongFieldTypeIsInvalidFieldNamingTheField(message: String, detail: String) throws {
        let error = try #require(rejection(message))
        #expect(error.reason == .invalidField)
        #expect(error.detail == detail)
    }

    @Test(arguments: [
        (#"{"image":"i"}"#, "field 'query' is missing"),
        (#"{"query":"q"}"#, "field 'image' is missing"),
        ("{}", "field 'query' is missing"),
        (#"{"Query":"q","Image":"i"}"#, "field 'query' is missing"),
    ])
    func missingRequiredFieldIsInvalidField(message: String, detail: String) throws {
        let error = try #require(rejection(message))
        #expect(error.reason == .invalidField)
        #expect(error.detail == detail)
    }

    @Test(arguments: [
        (#"{"query":"a","query":"b","image":"i"}"#, "field 'query' appears more than once"),
        (#"{"query":"a","image":"i","clicks":1,"clicks":2}"#, "field 'clicks' appears more than once"),
        (#"{"query":"a","image":"i","x":null,"x":null}"#, "field 'x' appears more than once"),
        (#"{"query":"a","\u0071uery":"b","image":"i"}"#, "field 'query' appears more than once"),
    ])
    func duplicateKeyIsInvalidField(message: String, detail: String) throws {
        let error = try #require(rejection(message))
        #expect(error.reason == .invalidField)
        #expect(error.detail == detail)
    }

    @Test(arguments: [
        (#"{"query":"q","image":"i""#, "unterminated object at byte 24"),
        (#"{"query":"q","image":"#, "unexpected end of input at byte 21"),
        (#"{"query":"q","image":"i"#, "unterminated string at byte 23"),
        (#"{"query":"q","image":"i",}"#, "expected a string key in object at byte 25"),
        (#"{"query":"q","image":"i"} x"#, "unexpected data after the JSON value at byte 26"),
        (#"{"query":"q","image":"i"}{}"#, "unexpected data after the JSON value at byte 25"),
        (#"{'query':'q','image':'i'}"#, "expected a string key in object at byte 1"),
        ("{\"query\":\"a\u{01}b\",\"image\":\"i\"}", "control character in string at byte 11"),
        ("{\"query\":\"a\tb\",\"image\":\"i\"}", "control character in string at byte 11"),
        ("{\"query\":\"a\nb\",\"image\":\"i\"}", "control character in string at byte 11"),
        (#"{"query":"q" "image":"i"}"#, "expected ',' or '}' in object at byte 13"),
        (#"{"query" "q"}"#, "expected ':' in object at byte 9"),
        (#"{"query":tru}"#, "invalid literal at byte 9"),
        (#"{"query":"\x"}"#, "invalid escape in string at byte 12"),
        (#"{"query":"\ud800","image":"i"}"#, "unpaired surrogate in \\u escape at byte 16"),
        (#"{"query":"q","image":"i","clicks":01}"#, "expected ',' or '}' in object at byte 35"),
        (#"{"query":"q","image":"i","clicks":+1}"#, "unexpected character at byte 34"),
        (#"{"query":"q","image":"i","clicks":NaN}"#, "unexpected character at byte 34"),
        ("{", "expected a string key in object at byte 1"),
    ])
    func malformedJSONIsInvalidJSON(message: String, detail: String) throws {
        let error = try #require(rejection(message))
        #expect(error.reason == .invalidJSON)
        #expect(error.detail == detail)
    }

    @Test func topLevelArrayIsTriadFormAndRejected() throws {
        let error = try #require(rejection("[1]"))
        #expect(error.reason == .fieldCount)
        let object = try #require(rejection(#"[{"query":"q","image":"i"}]"#))
        #expect(object.reason == .fieldCount)
    }

    @Test func deeplyNestedUnknownFieldIsInvalidJSON() throws {
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        let error = try #require(rejection(#"{"query":"q","image":"i","x":"# + deep + "}"))
        #expect(error.reason == .invalidJSON)
        #expect(error.detail == "nesting deeper than 16 at byte 45")
    }

    @Test func unicodeEscapesDecode() throws {
        let message = #"{"query":"Caf\u00E9 \ud83d\ude00 \u6771\u4eac \"x\" \/ \\","image":"\u0069mg\uD834\uDD1E"}"#
        let event = try parser.parse(message).get()
        expectSameBytes(event.query, "café 😀 東京 \"x\" / \\")
        expectSameBytes(event.image, "img𝄞")
    }

    @Test func escapedWhitespaceInQueryIsCollapsed() throws {
        let event = try parser.parse(#"{"query":"\tA\n\r\u3000B\u0020","image":"i"}"#).get()
        #expect(event.query == "a b")
    }

    @Test func queryIsNormalisedLikeTriadForm() throws {
        let json = try parser.parse(#"{"query":"ＳＮＯＯＫＩ  \ufb01sh","image":"i"}"#).get()
        let triad = try parser.parse("i\tＳＮＯＯＫＩ  \u{FB01}sh\t1").get()
        expectSameBytes(json.query, "snooki fish")
        expectSameBytes(triad.query, json.query)
    }

    @Test(arguments: [#"{"query":"","image":"i"}"#, #"{"query":" \t\u3000 ","image":"i"}"#])
    func emptyQueryIsRejected(message: String) throws {
        let error = try #require(rejection(message))
        #expect(error.reason == .emptyQuery)
        #expect(error.detail == "query is empty after normalisation")
    }

    @Test func overlongQueryIsRejected() throws {
        let error = try #require(rejection(#"{"query":""# + String(repeating: "Q", count: 1025) + #"","image":"i"}"#))
        #expect(error.reason == .queryTooLong)
        #expect(error.detail == "query is 1025 bytes after normalisation (limit 1024)")
    }

    @Test(arguments: [
        (#"{"query":"q","image":"img key"}"#, #"image "img key" contains whitespace or control characters"#),
        (#"{"query":"q","image":"  "}"#, "image is empty"),
        (#"{"query":"q","image":"a\u0000b"}"#, #"image "a\0b" contains whitespace or control characters"#),
        (
            #"{"query":"q","image":"i","impressions":["ok","b c"]}"#,
            #"impressions[1] "b c" contains whitespace or control characters"#
        ),
        (#"{"query":"q","image":"i","impressions":[""]}"#, "impressions[0] is empty"),
    ])
    func invalidImageKeysAreInvalidImage(message: String, detail: String) throws {
        let error = try #require(rejection(message))
        #expect(error.reason == .invalidImage)
        #expect(error.detail == detail)
    }

    @Test func timestampIsConvertedToMicroseconds() throws {
        let event = try parser.parse(#"{"query":"q","image":"i","ts":"2026-11-25T22:00:00.25+01:00"}"#).get()
        #expect(event.timestampMicros == 1_795_640_400_250_000)
    }

    @Test func positionIsDerivedFromImpressionsWhenAbsent() throws {
        let event = try parser.parse(#"{"query":"q","image":"c","impressions":["a","b","c","d"]}"#).get()
        #expect(event.position == 2)
        #expect(Array(event.skippedAbove) == ["a", "b"])
    }

    @Test func derivedPositionIsTheFirstOccurrence() throws {
        let event = try parser.parse(#"{"query":"q","image":"c","impressions":["a","c","b","c"]}"#).get()
        #expect(event.position == 1)
    }

    @Test func explicitPositionIsKeptEvenWhenImpressionsDisagree() throws {
        let event = try parser.parse(#"{"query":"q","image":"c","position":0,"impressions":["a","b","c"]}"#).get()
        #expect(event.position == 0)
        #expect(Array(event.skippedAbove) == ["a", "b"])
    }

    @Test func positionStaysNilWhenClickedImageIsNotInImpressions() throws {
        let event = try parser.parse(#"{"query":"q","image":"z","impressions":["a","b"]}"#).get()
        #expect(event.position == nil)
        #expect(event.impressions == ["a", "b"])
        #expect(event.skippedAbove.isEmpty)
    }

    @Test func emptyImpressionsAreKept() throws {
        let event = try parser.parse(#"{"query":"q","image":"i","impressions":[]}"#).get()
        #expect(event.impressions == [])
        #expect(event.position == nil)
    }

    @Test func impressionsLimitIsEnforced() throws {
        var limits = ClickLogParser.Limits()
        limits.maxImpressions = 2
        let custom = ClickLogParser(limits: limits)
        #expect(custom.parse(#"{"query":"q","image":"b","impressions":["a","b"]}"#).success?.position == 1)
        let error = try #require(custom.parse(#"{"query":"q","image":"b","impressions":["a","b","c"]}"#).failure)
        #expect(error.reason == .invalidField)
        #expect(error.detail == "impressions has 3 entries (limit 2)")
    }

    @Test func defaultImpressionsLimitIsOneThousand() throws {
        func message(_ count: Int) -> String {
            let keys = (0..<count).map { "\"k\($0)\"" }.joined(separator: ",")
            return #"{"query":"q","image":"k999","impressions":["# + keys + "]}"
        }
        #expect(try parser.parse(message(1000)).get().position == 999)
        #expect(rejection(message(1001))?.detail == "impressions has 1001 entries (limit 1000)")
    }

    @Test func sessionIsKeptVerbatim() throws {
        #expect(try parser.parse(#"{"query":"q","image":"i","session":""}"#).get().session == "")
        #expect(try parser.parse(#"{"query":"q","image":"i","session":"  A b  "}"#).get().session == "  A b  ")
        #expect(try parser.parse(#"{"query":"q","image":"i","session":"S-é😀"}"#).get().session == "S-é😀")
    }

    @Test func rankingIsKeptVerbatimAndNullIsAbsent() throws {
        let id = "01938a5c-7d2e-7b3a-9c1d-2e4f6a8b0c1d"
        #expect(try parser.parse(#"{"query":"q","image":"i","ranking":""# + id + #""}"#).get().ranking == id)
        // Another system's ids are not amc's business to judge: any non-empty string is kept as it is.
        #expect(try parser.parse(#"{"query":"q","image":"i","ranking":" Other-7 "}"#).get().ranking == " Other-7 ")
        #expect(try parser.parse(#"{"query":"q","image":"i","ranking":null}"#).get().ranking == nil)
        #expect(try parser.parse(#"{"query":"q","image":"i"}"#).get().ranking == nil)
    }

    @Test func emptyOverlongOrControlCharacterRankingIsInvalidField() throws {
        let empty = try #require(rejection(#"{"query":"q","image":"i","ranking":""}"#))
        #expect(empty.reason == .invalidField)
        #expect(empty.detail == "field 'ranking' is empty")
        let long = String(repeating: "r", count: 129)
        #expect(
            try parser.parse(#"{"query":"q","image":"i","ranking":""# + long.dropLast() + #""}"#).get().ranking != nil
        )
        let overlong = try #require(rejection(#"{"query":"q","image":"i","ranking":""# + long + #""}"#))
        #expect(overlong.reason == .invalidField)
        #expect(overlong.detail == "field 'ranking' is 129 bytes (limit 128)")
        let control = try #require(rejection(#"{"query":"q","image":"i","ranking":"a\nb"}"#))
        #expect(control.reason == .invalidField)
        #expect(control.detail == "field 'ranking' contains control characters")
    }

    @Test(arguments: [#"\t"#, #"\n"#, #"\u0000"#, #"\u007f"#, #"\u0085"#, #"\u009F"#])
    func sessionWithControlCharacterIsInvalidField(escape: String) throws {
        let error = try #require(rejection(#"{"query":"q","image":"i","session":"a"# + escape + #"b"}"#))
        #expect(error.reason == .invalidField)
        #expect(error.detail == "field 'session' contains control characters")
    }

    @Test(arguments: [
        (#"\u0000"#, "U+0"), (#"\u0001"#, "U+1"), (#"\u001b"#, "U+1B"), (#"\u007F"#, "U+7F"),
        (#"\u0080"#, "U+80"), (#"\u009f"#, "U+9F"),
    ])
    func queryWithControlCharacterIsInvalidQuery(escape: String, codePoint: String) throws {
        let error = try #require(rejection(#"{"query":"a"# + escape + #"b","image":"i"}"#))
        #expect(error.reason == .invalidQuery)
        #expect(error.detail == "query contains the control character \(codePoint)")
    }
}
