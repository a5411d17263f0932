import Testing

@testable import ClickLog

/// The Clickture triad form `image_key \t query \t click_count`, and what applies to every message.
@Suite struct ClickLogParserTriadTests {
    let parser = ClickLogParser()

    func rejection(_ message: String) -> ClickLogError? { parser.parse(message).failure }
    func rejection(_ message: [UInt8]) -> ClickLogError? { parser.parse(message).failure }

    @Test func validLineParses() throws {
        let event = try parser.parse("img001\tRed Car\t3").get()
        #expect(event == ClickEvent(query: "red car", image: "img001", clicks: 3, form: .triad))
        #expect(event.position == nil)
        #expect(event.timestampMicros == nil)
        #expect(event.impressions == nil)
        #expect(event.session == nil)
    }

    @Test(arguments: ["img\tquery\t2\n", "img\tquery\t2\r\n", "img\tquery\t2"])
    func lineEndingsAreIgnored(line: String) throws {
        #expect(try parser.parse(line).get() == ClickEvent(query: "query", image: "img", clicks: 2, form: .triad))
    }

    @Test func onlyOneLineTerminatorIsIgnored() throws {
        let error = try #require(rejection("img\tquery\t2\n\n"))
        #expect(error.reason == .invalidClickCount)
        #expect(error.detail == "click_count \"2\\n\" is not an integer")
    }

    @Test func imageKeyAndCountWithSurroundingSpacesAreTrimmed() throws {
        let event = try parser.parse("  img42  \t  Snow  Cat \t  7  \r\n").get()
        #expect(event == ClickEvent(query: "snow cat", image: "img42", clicks: 7, form: .triad))
    }

    @Test(arguments: ["", "\n", "\r\n"])
    func emptyMessageIsEmpty(message: String) throws {
        let error = try #require(rejection(message))
        #expect(error.reason == .empty)
        #expect(error.detail == "message is empty")
    }

    @Test(arguments: [" ", "   \n", "\t", " \t \r\n", "\t\t"])
    func whitespaceOnlyMessageIsEmpty(message: String) throws {
        let error = try #require(rejection(message))
        #expect(error.reason == .empty)
    }

    @Test(arguments: [
        ("img\tquery", 2),
        ("img query 3", 1),
        ("img\tquery\t3\textra", 4),
        ("img\tquery\t3\t", 4),
        ("img\t\t\t3", 4),
        ("[1]", 1),  // not JSON form: only '{' selects it
        ("\"just a string\"", 1),
    ])
    func wrongFieldCountIsRejected(line: String, found: Int) throws {
        let error = try #require(rejection(line))
        #expect(error.reason == .fieldCount)
        #expect(error.detail == "expected 3 tab-separated fields (image_key, query, click_count), found \(found)")
    }

    @Test(arguments: [
        ("0", "click_count must be at least 1, got 0"),
        ("00", "click_count must be at least 1, got 0"),
        ("-1", "click_count \"-1\" is negative"),
        ("-0", "click_count \"-0\" is negative"),
        ("-", "click_count \"-\" is not an integer"),
        ("3a", "click_count \"3a\" is not an integer"),
        ("1.5", "click_count \"1.5\" is not an integer"),
        ("+3", "click_count \"+3\" is not an integer"),
        ("1e3", "click_count \"1e3\" is not an integer"),
        ("0x10", "click_count \"0x10\" is not an integer"),
        ("3 3", "click_count \"3 3\" is not an integer"),
        ("--3", "click_count \"--3\" is not an integer"),
        ("\u{FF13}", "click_count \"\u{FF13}\" is not an integer"),  // fullwidth 3
        ("abc", "click_count \"abc\" is not an integer"),
        ("", "click_count is empty"),
        ("   ", "click_count is empty"),
        ("2147483648", "click_count \"2147483648\" overflows (maximum 2147483647)"),
        ("99999999999999999999", "click_count \"99999999999999999999\" overflows (maximum 2147483647)"),
        ("-99999999999999999999", "click_count \"-99999999999999999999\" overflows (maximum 2147483647)"),
    ])
    func invalidClickCountIsRejected(count: String, detail: String) throws {
        let error = try #require(rejection("img\tquery\t\(count)"))
        #expect(error.reason == .invalidClickCount)
        #expect(error.detail == detail)
    }

    @Test(arguments: [("1", Int32(1)), ("007", 7), ("2147483647", Int32.max), (" 42 ", 42)])
    func validClickCountsAreAccepted(count: String, expected: Int32) throws {
        #expect(try parser.parse("img\tquery\t\(count)").get().clicks == expected)
    }

    @Test(arguments: ["img\t\t1", "img\t   \t1", "img\t\u{3000}\u{A0}\t1", "img\t\u{0B}\u{0C}\t1"])
    func emptyQueryIsRejected(line: String) throws {
        let error = try #require(rejection(line))
        #expect(error.reason == .emptyQuery)
        #expect(error.detail == "query is empty after normalisation")
    }

    @Test(arguments: [
        ("a\u{0}b", "U+0"), ("\u{1}x", "U+1"), ("x\u{1B}[31m", "U+1B"), ("del\u{7F}", "U+7F"), ("c1\u{80}", "U+80"),
        ("c1 \u{9F}", "U+9F"), ("a\u{1C}b", "U+1C"),  // U+001C is a control but not White_Space
    ])
    func queryWithControlCharacterIsInvalidQuery(query: String, codePoint: String) throws {
        let error = try #require(rejection("img\t\(query)\t1"))
        #expect(error.reason == .invalidQuery)
        #expect(error.detail == "query contains the control character \(codePoint)")
    }

    @Test(arguments: ["a\u{0B}b", "a\u{0C}b", "a\rb", "a\u{85}b", "a \r\u{0B} b"])
    func whitespaceControlsAreCollapsedNotRejected(query: String) throws {
        #expect(try parser.parse("img\t\(query)\t1").get().query == "a b")
    }

    @Test func controlCharacterIsCheckedAfterEmptinessAndBeforeLength() throws {
        #expect(rejection("img\t \t1")?.reason == .emptyQuery)
        #expect(rejection("img\t" + String(repeating: "a", count: 2000) + "\u{0}\t1")?.reason == .invalidQuery)
    }

    @Test func messageOverOneMebibyteIsTooLarge() throws {
        let line = "img\t" + String(repeating: "a", count: 1_048_577 - 6) + "\t1"
        #expect(line.utf8.count == 1_048_577)
        let error = try #require(rejection(line))
        #expect(error.reason == .tooLarge)
        #expect(error.detail == "message of 1048577 bytes exceeds the 1048576-byte limit")
    }

    @Test func tooLargeIsCheckedBeforeAnythingElse() throws {
        let bytes = [UInt8](repeating: 0xFF, count: 2_000_000)
        #expect(rejection(bytes)?.reason == .tooLarge)
    }

    @Test func lineTerminatorCountsTowardsTheSizeLimit() throws {
        let line = "img\t" + String(repeating: "a", count: 1_048_576 - 6) + "\t1\n"
        #expect(line.utf8.count == 1_048_577)
        #expect(rejection(line)?.reason == .tooLarge)
    }

    @Test func messageOfExactlyTheLimitWithHugeQueryIsQueryTooLong() throws {
        let line = "img\t" + String(repeating: "a", count: 1_048_576 - 6) + "\t1"
        #expect(line.utf8.count == 1_048_576)
        let error = try #require(rejection(line))
        #expect(error.reason == .queryTooLong)
        #expect(error.detail == "query is 1048570 bytes after normalisation (limit 1024)")
    }

    @Test func queryLimitAppliesToNormalisedBytes() throws {
        // 1024 bytes after normalisation is accepted even though the raw query is longer.
        let atLimit = "  " + String(repeating: "A", count: 1024) + "  "
        #expect(try parser.parse("img\t\(atLimit)\t1").get().query == String(repeating: "a", count: 1024))

        let error = try #require(rejection("img\t" + String(repeating: "b", count: 1025) + "\t1"))
        #expect(error.reason == .queryTooLong)
        #expect(error.detail == "query is 1025 bytes after normalisation (limit 1024)")

        // 512 two-byte characters = 1024 bytes; 513 = 1026 bytes.
        #expect(try parser.parse("img\t" + String(repeating: "é", count: 512) + "\t1").get().query.utf8.count == 1024)
        #expect(rejection("img\t" + String(repeating: "é", count: 513) + "\t1")?.reason == .queryTooLong)
    }

    @Test func customLimitsAreApplied() throws {
        var limits = ClickLogParser.Limits()
        limits.maxMessageBytes = 16
        limits.maxQueryBytes = 3
        limits.maxImageKeyBytes = 2
        let custom = ClickLogParser(limits: limits)
        #expect(custom.parse("ab\tabc\t1").success == ClickEvent(query: "abc", image: "ab", clicks: 1, form: .triad))
        #expect(custom.parse("ab\tabcd\t1").failure?.reason == .queryTooLong)
        #expect(custom.parse("abc\tabc\t1").failure?.detail == "image_key is 3 bytes (limit 2)")
        #expect(custom.parse("ab\tabc\t1234567890").failure?.reason == .tooLarge)
    }

    @Test(
        arguments: [
            [0xFF, 0xFE],
            [0x80],  // lone continuation byte
            [0xE2, 0x82],  // truncated three-byte sequence
            [0xC0, 0xAF],  // overlong '/'
            [0xE0, 0x80, 0xAF],  // overlong three-byte '/'
            [0xED, 0xA0, 0x80],  // UTF-16 surrogate encoded as UTF-8
            [0xF4, 0x90, 0x80, 0x80],  // beyond U+10FFFF
        ] as [[UInt8]]
    )
    func invalidUTF8IsRejected(bad: [UInt8]) throws {
        for message in [bad, Array("img\t".utf8) + bad + Array("\t1".utf8), Array("{\"query\":\"".utf8) + bad] {
            let error = try #require(rejection(message))
            #expect(error.reason == .invalidUTF8)
            #expect(error.detail == "message is not valid UTF-8")
        }
    }

    @Test(arguments: [
        ("img key\tq\t1", "image_key \"img key\" contains whitespace or control characters"),
        ("img\u{A0}key\tq\t1", "image_key \"img\u{A0}key\" contains whitespace or control characters"),
        ("img\u{3000}key\tq\t1", "image_key \"img\u{3000}key\" contains whitespace or control characters"),
        ("img\u{7F}\tq\t1", "image_key \"img\\u{7F}\" contains whitespace or control characters"),
        ("img\rkey\tq\t1", "image_key \"img\\rkey\" contains whitespace or control characters"),
        ("\tq\t1", "image_key is empty"),
        ("   \tq\t1", "image_key is empty"),
    ])
    func invalidImageKeyIsRejected(line: String, detail: String) throws {
        let error = try #require(rejection(line))
        #expect(error.reason == .invalidImage)
        #expect(error.detail == detail)
    }

    @Test func imageKeyLengthLimitIsInBytes() throws {
        let atLimit = String(repeating: "k", count: 512)
        #expect(try parser.parse("\(atLimit)\tq\t1").get().image == atLimit)
        let error = try #require(rejection(String(repeating: "k", count: 513) + "\tq\t1"))
        #expect(error.reason == .invalidImage)
        #expect(error.detail == "image_key is 513 bytes (limit 512)")
    }

    @Test func nonASCIIImageKeyIsKept() throws {
        #expect(try parser.parse("画像-Ü1\tq\t1").get().image == "画像-Ü1")
    }

    @Test func fieldsAreValidatedInOrderImageQueryCount() throws {
        #expect(rejection("bad key\t\t0")?.reason == .invalidImage)
        #expect(rejection("img\t\t0")?.reason == .emptyQuery)
        #expect(rejection("img\tq\t0")?.reason == .invalidClickCount)
    }

    @Test func unicodeQueryIsNormalisedAndPreserved() throws {
        let event = try parser.parse("k1\t  Ｃａｆé  東京ﾀﾜｰ\u{3000}ΑΘΗΝΑ 😀 \t2\r\n").get()
        expectSameBytes(event.query, "café 東京タワー αθηνα 😀")
        #expect(event == ClickEvent(query: "café 東京タワー αθηνα 😀", image: "k1", clicks: 2, form: .triad))
    }

    @Test func decomposedQueryIsComposed() throws {
        expectSameBytes(try parser.parse("k\tcafe\u{301}\t1").get().query, "caf\u{E9}")
    }

    @Test(arguments: [
        "img\tRed Car\t3\r\n", "{\"query\":\"Red Car\",\"image\":\"img\",\"clicks\":3}\n", "img\t\t1", "\u{FF}\t", "",
    ])
    func stringBytesAndBufferEntryPointsAgree(message: String) {
        let bytes = Array(message.utf8)
        let fromString = parser.parse(message)
        let fromBytes = parser.parse(bytes)
        let fromBuffer = bytes.withUnsafeBufferPointer { parser.parse($0) }
        #expect(fromString.success == fromBytes.success)
        #expect(fromString.failure == fromBytes.failure)
        #expect(fromBytes.success == fromBuffer.success)
        #expect(fromBytes.failure == fromBuffer.failure)
    }
}

@Suite struct ClickLogErrorTests {
    @Test func descriptionIsReasonCodeThenDetail() {
        let error = ClickLogError(.fieldCount, "found 2")
        #expect(error.description == "field_count: found 2")
        #expect(String(describing: ClickLogError.Reason.invalidUTF8) == "invalid_utf8")
    }

    @Test(arguments: [
        (ClickLogError.Reason.empty, "empty"),
        (.tooLarge, "too_large"),
        (.invalidUTF8, "invalid_utf8"),
        (.fieldCount, "field_count"),
        (.emptyQuery, "empty_query"),
        (.invalidQuery, "invalid_query"),
        (.queryTooLong, "query_too_long"),
        (.invalidImage, "invalid_image"),
        (.invalidClickCount, "invalid_click_count"),
        (.invalidJSON, "invalid_json"),
        (.invalidField, "invalid_field"),
    ])
    func reasonCodesAreStable(reason: ClickLogError.Reason, code: String) {
        #expect(reason.rawValue == code)
    }

    @Test func excerptEscapesAndQuotes() {
        #expect(ClickLogError.excerpt("a\tb\"c\u{0}") == "\"a\\tb\\\"c\\0\"")
        #expect(ClickLogError.excerpt("éü") == "\"éü\"")
    }

    @Test func excerptIsTruncatedAtTheLimit() {
        let long = Substring(String(repeating: "x", count: 41))
        #expect(ClickLogError.excerpt(long) == "\"" + String(repeating: "x", count: 40) + "…\"")
        #expect(ClickLogError.excerpt(long.dropLast()) == "\"" + String(repeating: "x", count: 40) + "\"")
        #expect(ClickLogError.excerpt("abcdef", limit: 3) == "\"abc…\"")
    }

    @Test func rejectionOfHugeInputCarriesOnlyAShortExcerpt() throws {
        let line = "img\tquery\t" + String(repeating: "9x", count: 10_000)
        let error = try #require(ClickLogParser().parse(line).failure)
        #expect(error.reason == .invalidClickCount)
        #expect(error.detail == "click_count \"" + String(repeating: "9x", count: 20) + "…\" is not an integer")
    }
}
