import Testing

@testable import ClickLog

@Suite struct QueryNormalizerTests {
    @Test(arguments: [
        ("Hello World", "hello world"),
        ("already normal", "already normal"),
        ("MiXeD 123 !?", "mixed 123 !?"),
        ("   leading", "leading"),
        ("trailing   ", "trailing"),
        ("  both ends  ", "both ends"),
        ("a    b", "a b"),
        ("a\tb", "a b"),
        ("a \t\n b", "a b"),
        ("\r\nx\u{0B}y\u{0C}", "x y"),
        ("RED\t\tCAR  PHOTO", "red car photo"),
    ])
    func asciiCaseAndWhitespace(input: String, expected: String) {
        expectSameBytes(QueryNormalizer.normalize(input), expected)
    }

    @Test(arguments: ["", " ", "   ", "\t", " \t\r\n\u{0B}\u{0C} "])
    func blankInputNormalisesToEmpty(input: String) {
        #expect(QueryNormalizer.normalize(input) == "")
    }

    @Test(arguments: [
        ("ＳＮＯＯＫＩ", "snooki"),
        ("\u{FB01}sh", "fish"),  // ﬁ ligature
        ("a\u{3000}b", "a b"),  // ideographic space
        ("\u{3000}a\u{3000}\u{3000}b\u{3000}", "a b"),
        ("a\u{A0}b", "a b"),  // no-break space
        ("a\u{2003}\u{2003}b", "a b"),  // em space
        ("\u{2460}", "1"),  // circled digit one
        ("\u{338F}", "kg"),  // square kg
        ("\u{216B}", "xii"),  // roman numeral twelve
        ("東京ﾀﾜｰ", "東京タワー"),  // half-width katakana
    ])
    func nfkcCompatibilityMapping(input: String, expected: String) {
        expectSameBytes(QueryNormalizer.normalize(input), expected)
    }

    @Test(arguments: [
        ("a\u{85}b", "a b"),  // NEL
        ("a\u{2028}b", "a b"),  // line separator
        ("a\u{2029}\u{205F}b", "a b"),  // paragraph separator + medium mathematical space
        ("\u{1680}é\u{1680}", "é"),  // ogham space mark
    ])
    func unicodeWhitespaceCollapses(input: String, expected: String) {
        expectSameBytes(QueryNormalizer.normalize(input), expected)
    }

    @Test func composedAndDecomposedAccentsNormaliseToIdenticalBytes() {
        let composed = QueryNormalizer.normalize("caf\u{E9}")
        let decomposed = QueryNormalizer.normalize("cafe\u{301}")
        expectSameBytes(composed, "caf\u{E9}")
        expectSameBytes(decomposed, "caf\u{E9}")
        #expect(decomposed.unicodeScalars.count == 4)
    }

    @Test func decomposedUpperCaseComposesAndLowerCases() {
        expectSameBytes(QueryNormalizer.normalize("E\u{301}COLE"), "\u{E9}cole")
    }

    @Test(arguments: [
        ("ÉCOLE", "école"),
        ("ÀÉÎÕÜ", "àéîõü"),
        ("ΑΘΗΝΑ", "αθηνα"),
        ("ΣΟΦΙΑ", "σοφια"),
        ("ПРИВЕТ МИР", "привет мир"),
        ("Straße", "straße"),
        ("\u{1E9E}", "ß"),  // capital sharp s
        ("İSTANBUL", "i\u{307}stanbul"),  // dotted capital I lower-cases to i + combining dot
        ("HELLO Wörld", "hello wörld"),
    ])
    func nonASCIILowerCasing(input: String, expected: String) {
        expectSameBytes(QueryNormalizer.normalize(input), expected)
    }

    static let idempotenceSamples = [
        "", "   ", "Hello World", "  RED\t\tcar  ", "ＳＮＯＯＫＩ", "\u{FB01}sh", "a\u{3000}b",
        "cafe\u{301}", "caf\u{E9}", "ÉCOLE", "ΟΔΟΣ", "ΣΟΦΙΑ", "İSTANBUL", "Straße", "\u{1E9E}", "東京ﾀﾜｰ",
        "\u{2460}\u{338F}\u{216B}", "\u{2003}\u{301}x", "a\u{85}b\u{2028}", "e \u{301}", "Ǆ", "ǅungla",
        "\u{212A}elvin \u{2126}", "😀 EMOJI 😀", "mixed ASCII and ü",
    ]

    @Test(arguments: idempotenceSamples)
    func normalisationIsIdempotent(sample: String) {
        let once = QueryNormalizer.normalize(sample)
        expectSameBytes(QueryNormalizer.normalize(once), once)
    }

    @Test(arguments: idempotenceSamples)
    func resultHasNoEdgeOrDoubleWhitespace(sample: String) {
        let result = QueryNormalizer.normalize(sample)
        #expect(result.unicodeScalars.first?.properties.isWhitespace != true)
        #expect(result.unicodeScalars.last?.properties.isWhitespace != true)
        #expect(!result.contains("  "))
        #expect(!result.unicodeScalars.contains { $0.properties.isWhitespace && $0 != " " })
    }

    @Test func substringInputNormalisesLikeString() {
        let text = "xx  Ｈｅｌｌｏ  WORLD xx"
        let inner = text.dropFirst(2).dropLast(2)
        expectSameBytes(QueryNormalizer.normalize(inner), "hello world")
    }

    @Test func asciiFastPathDeclinesNonASCIIBytes() {
        #expect(QueryNormalizer.normalizeASCII(Array("caf\u{E9}".utf8)) == nil)
        #expect(QueryNormalizer.normalizeASCII(Array(" A\t B ".utf8)) == "a b")
        #expect(QueryNormalizer.normalizeASCII([UInt8]()) == "")
    }
}
