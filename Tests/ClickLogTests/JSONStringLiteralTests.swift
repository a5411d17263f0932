import ClickLog
import Foundation
import Testing

@Suite struct JSONStringLiteralTests {
    @Test(arguments: [
        "", "plain", "quote \" and \\ backslash", "tab\tnew\nline\rcr", "bell\u{7} nul\u{0} us\u{1F}", "snøøki 👶 bump",
    ])
    func quotedTextReadsBackAsItself(_ text: String) throws {
        let quoted = JSONStringLiteral.quoted(text)
        #expect(!quoted.unicodeScalars.contains { $0.value < 0x20 }, "no raw control character: \(quoted)")
        let parsed = try JSONSerialization.jsonObject(with: Data("[\(quoted)]".utf8)) as? [String]
        #expect(parsed == [text])
    }

    @Test func controlCharactersUseTheShortFormsOrFourHexDigits() {
        #expect(JSONStringLiteral.quoted("a\n\u{1}\"") == #""a\n\u0001\"""#)
    }
}
