import Testing

@testable import ClickLog

/// All-ASCII triad lines are parsed straight from their bytes; any line that path cannot accept is handed to
/// the general triad parser, so these pin that both paths agree (results and exact rejection messages).
@Suite struct ClickLogParserASCIIFastPathTests {
    let parser = ClickLogParser()

    @Test(arguments: [
        (
            "img4711x3AAAAAAAAAA\tquery 4711 golden retriever\t1", "query 4711 golden retriever", "img4711x3AAAAAAAAAA",
            1
        ),
        ("img1\t  Golden   RETRIEVER  \t2", "golden retriever", "img1", 2),
        ("img1\tA\u{0B}B\u{0C}\rC\t3", "a b c", "img1", 3),
        ("  img~!\t q \t 007 ", "q", "img~!", 7),
        ("img1\tq\t2147483647", "q", "img1", 2_147_483_647),
    ])
    func asciiLinesParse(line: String, query: String, image: String, clicks: Int32) throws {
        let fromBytes = try parser.parse(Array(line.utf8)).get()
        #expect(fromBytes == ClickEvent(query: query, image: image, clicks: clicks, form: .triad))
        expectSameBytes(fromBytes.query, query)
        expectSameBytes(fromBytes.image, image)
        #expect(try parser.parse(line).get() == fromBytes)
    }

    @Test(arguments: [
        (
            "img 1\tq\t1", ClickLogError.Reason.invalidImage,
            "image_key \"img 1\" contains whitespace or control characters"
        ),
        ("img\u{7F}\tq\t1", .invalidImage, "image_key \"img\\u{7F}\" contains whitespace or control characters"),
        ("img\u{0B}\tq\t1", .invalidImage, "image_key \"img\\u{0B}\" contains whitespace or control characters"),
        ("   \tq\t1", .invalidImage, "image_key is empty"),
        ("img\ta\u{0}b\t1", .invalidQuery, "query contains the control character U+0"),
        ("img\ta\u{7F}\t1", .invalidQuery, "query contains the control character U+7F"),
        ("img\t \u{0B} \t1", .emptyQuery, "query is empty after normalisation"),
        ("img\tq\t+3", .invalidClickCount, "click_count \"+3\" is not an integer"),
        ("img\tq\t-0", .invalidClickCount, "click_count \"-0\" is negative"),
        ("img\tq\t0", .invalidClickCount, "click_count must be at least 1, got 0"),
        ("img\tq\t  ", .invalidClickCount, "click_count is empty"),
        ("img\tq\t2147483648", .invalidClickCount, "click_count \"2147483648\" overflows (maximum 2147483647)"),
    ])
    func rejectedASCIILinesKeepTheirMessages(line: String, reason: ClickLogError.Reason, detail: String) throws {
        let error = try #require(parser.parse(Array(line.utf8)).failure)
        #expect(error.reason == reason)
        #expect(error.detail == detail)
    }

    @Test func limitsApplyOnTheASCIIPath() {
        var limits = ClickLogParser.Limits()
        limits.maxQueryBytes = 5
        limits.maxImageKeyBytes = 4
        let custom = ClickLogParser(limits: limits)
        #expect(custom.parse(Array(" abcd \tA  B   C\t1".utf8)).success?.query == "a b c")
        #expect(custom.parse(Array("abcde\tq\t1".utf8)).failure?.detail == "image_key is 5 bytes (limit 4)")
        #expect(
            custom.parse(Array("abcd\tA B C D\t1".utf8)).failure?.detail
                == "query is 7 bytes after normalisation (limit 5)"
        )
    }

    @Test func nonASCIILinesStillParse() throws {
        let event = try parser.parse(Array("img1\tCAFÉ  Crème\t2".utf8)).get()
        expectSameBytes(event.query, "café crème")
        #expect(event.image == "img1")
        #expect(event.clicks == 2)
    }
}
