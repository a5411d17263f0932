import ClickLog
import Testing

/// The shared lexer, through its public API only (as `Catalog` uses it).
@Suite struct JSONScannerTests {
    /// Runs `body` on a scanner over `text` and returns its result with the scanner's final index.
    func scan<T>(
        _ text: String,
        _ body: (inout JSONScanner) throws(JSONSyntaxError) -> T
    ) -> (result: Result<T, JSONSyntaxError>, index: Int) {
        var text = text
        return text.withUTF8 { bytes in
            var scanner = JSONScanner(bytes: bytes)
            let result = Result { () throws(JSONSyntaxError) -> T in try body(&scanner) }
            return (result, scanner.index)
        }
    }

    @Test func whitespaceAndPeeking() {
        let (result, index) = scan(" \t\r\n x") { scanner in
            #expect(scanner.current == 0x20)
            scanner.skipWhitespace()
            #expect(scanner.peek(UInt8(ascii: "x")))
            #expect(!scanner.peek(UInt8(ascii: "y")))
            scanner.index += 1
            #expect(scanner.isAtEnd)
            #expect(scanner.current == nil)
            #expect(!scanner.peek(UInt8(ascii: "x")))
            return scanner.error("here")
        }
        #expect(result == .success(JSONSyntaxError(message: "here", offset: 6)))
        #expect(index == 6)
    }

    @Test func stringsDecodeEscapesAndStopAfterTheQuote() {
        let (result, index) = scan(#""a\n\u00e9\ud83d\ude00\/" tail"#) { scanner throws(JSONSyntaxError) in
            try scanner.string()
        }
        #expect(result == .success("a\né😀/"))
        #expect(index == 25)
        #expect(scan(#""plain" tail"#) { scanner throws(JSONSyntaxError) in try scanner.string() }.index == 7)
    }

    @Test(arguments: [
        (#""abc"#, "unterminated string", 4),
        (#""\q""#, "invalid escape in string", 3),
        (#""\u12""#, "short \\u escape", 3),
        (#""\uD800x""#, "unpaired surrogate in \\u escape", 7),
        ("\"a\u{1F}\"", "control character in string", 2),
    ])
    func stringErrorsHaveMessageAndOffset(text: String, message: String, offset: Int) {
        let (result, _) = scan(text) { scanner throws(JSONSyntaxError) in try scanner.string() }
        #expect(result == .failure(JSONSyntaxError(message: message, offset: offset)))
    }

    @Test func literalsAndSkippedWords() {
        #expect(scan("true,") { scanner throws(JSONSyntaxError) in try scanner.literal("true") }.index == 4)
        #expect(
            scan("nul") { scanner throws(JSONSyntaxError) in try scanner.literal("null") }.result.failure
                == JSONSyntaxError(message: "unexpected end of input", offset: 0)
        )
        #expect(
            scan("nulL") { scanner throws(JSONSyntaxError) in try scanner.literal("null") }.result.failure
                == JSONSyntaxError(message: "invalid literal", offset: 0)
        )
        let skipped = scan("NaN") { scanner in (scanner.skip("Infinity"), scanner.skip("NaN")) }
        #expect(skipped.result.map { [$0.0, $0.1] } == .success([false, true]))
        #expect(skipped.index == 3)
        #expect(scan("nul") { scanner in scanner.skip("null") } == (.success(false), 0))
    }

    @Test func numbersFollowTheGrammar() {
        let span = scan("-12.5e+3,") { scanner throws(JSONSyntaxError) in try scanner.numberSpan() }
        #expect(span.result == .success(0..<8))
        #expect(scan("01") { scanner throws(JSONSyntaxError) in try scanner.number() }.result == .success("0"))
        #expect(
            scan("1.e5") { scanner throws(JSONSyntaxError) in try scanner.number() }.result
                == .failure(JSONSyntaxError(message: "invalid number", offset: 2))
        )
        #expect(JSONScanner.isDigit(UInt8(ascii: "7")))
        #expect(!JSONScanner.isDigit(UInt8(ascii: "a")))
    }

    @Test func containersAreWalkedItemByItem() {
        let (result, index) = scan(#"{ "a" : [ 1 , 2 ] , "b" : [ ] , "c":{} } x"#) { scanner throws(JSONSyntaxError) in
            var seen: [String] = []
            let entered = scanner.enter(.object)
            #expect(entered)
            repeat {
                let key = try scanner.memberKey()
                seen.append(key)
                if key == "a" {
                    let hasItems = scanner.enter(.array)
                    #expect(hasItems)
                    repeat { seen.append(scanner.text(try scanner.numberSpan())) } while try scanner.next(in: .array)
                } else {
                    let hasItems = scanner.enter(key == "b" ? .array : .object)
                    #expect(!hasItems)
                }
            } while try scanner.next(in: .object)
            return seen
        }
        #expect(result == .success(["a", "1", "2", "b", "c"]))
        #expect(index == 40)
    }

    @Test(arguments: [
        ("[1 2]", JSONScanner.Container.array, "expected ',' or ']' in array", 3),
        ("[1", .array, "unterminated array", 2),
        (#"{"a":1 2"#, .object, "expected ',' or '}' in object", 7),
        (#"{"a":1 "#, .object, "unterminated object", 7),
    ])
    func separatorErrorsHaveMessageAndOffset(
        text: String,
        container: JSONScanner.Container,
        message: String,
        offset: Int
    ) {
        let (result, _) = scan(text) { scanner throws(JSONSyntaxError) in
            _ = scanner.enter(container)
            if container == .object { _ = try scanner.memberKey() }
            _ = try scanner.numberSpan()
            return try scanner.next(in: container)
        }
        #expect(result == .failure(JSONSyntaxError(message: message, offset: offset)))
    }

    @Test func memberKeyErrors() {
        #expect(
            scan("{1:2}") { scanner throws(JSONSyntaxError) in
                _ = scanner.enter(.object)
                return try scanner.memberKey()
            }.result == .failure(JSONSyntaxError(message: "expected a string key in object", offset: 1))
        )
        #expect(
            scan(#"{"a" 1}"#) { scanner throws(JSONSyntaxError) in
                _ = scanner.enter(.object)
                return try scanner.memberKey()
            }.result == .failure(JSONSyntaxError(message: "expected ':' in object", offset: 5))
        )
    }
}
