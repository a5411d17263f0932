import Testing

@testable import Evaluation

@Suite struct LabelFileTests {
    /// Lower-case and collapse whitespace (the test's stand-in for ClickLog's normaliser).
    static func normalize(_ query: String) -> String {
        query.lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    @Test func gradesAreExactLabels() {
        #expect(RelevanceGrade(label: "Excellent") == .excellent)
        #expect(RelevanceGrade(label: "Good") == .good)
        #expect(RelevanceGrade(label: "Bad") == .bad)
        #expect(RelevanceGrade(label: "excellent") == nil)
        #expect(RelevanceGrade(label: "Good ") == nil)
        #expect(RelevanceGrade.excellent.gain == 3)
        #expect(RelevanceGrade.good.gain == 2)
        #expect(RelevanceGrade.bad.gain == 0)
    }

    @Test func parsesGroupsAndRejectsWithLineNumbers() {
        let text = [
            "red car\tA\tExcellent\r",  // 1
            "Red  Car\tB\tGood",  // 2: same query after normalisation
            "",  // 3: ignored
            "   ",  // 4: ignored
            "blue\tC\tBad",  // 5
            "red car\tA\tBad",  // 6: repeats (red car, A): last wins, position kept
            "bad line",  // 7: one field
            "q\tk\tgreat",  // 8: unknown grade
            "\tk\tGood",  // 9: empty query
            "q\t \tGood",  // 10: empty image key
            "q\tk\tGood\textra",  // 11: four fields
            "q\tk x\tGood",  // 12: whitespace in the key
            "blue\t D \t Good ",  // 13: spaces around key and grade are removed
            "",
        ].joined(separator: "\n")
        let file = LabelFile(parsing: text, normalizeQuery: Self.normalize)
        #expect(
            file.queries == [
                JudgedQuery(query: "red car", images: ["A", "B"], gains: [0, 2]),
                JudgedQuery(query: "blue", images: ["C", "D"], gains: [0, 2]),
            ]
        )
        #expect(file.rejected.map(\.line) == [7, 8, 9, 10, 11, 12])
        let reasons = file.rejected.map(\.reason)
        #expect(reasons[0] == "expected 3 tab-separated fields (query, image, grade), found 1")
        #expect(reasons[1] == "unknown grade 'great' (expected Excellent, Good or Bad)")
        #expect(reasons[2] == "empty query")
        #expect(reasons[3] == "empty image key")
        #expect(reasons[4] == "expected 3 tab-separated fields (query, image, grade), found 4")
        #expect(reasons[5] == "image key contains whitespace or control characters")
    }

    @Test func identityNormalisationByDefault() {
        let file = LabelFile(parsing: "Red Car\ta\tGood\nred car\tb\tGood")
        #expect(file.queries.map(\.query) == ["Red Car", "red car"])
        #expect(file.rejected.isEmpty)
    }

    @Test func emptyTextHasNothing() {
        let file = LabelFile(parsing: "")
        #expect(file.queries.isEmpty)
        #expect(file.rejected.isEmpty)
    }

    @Test func aLineThatIsNotUTF8OrHasANULIsRejectedAloneAndTheOthersKept() {
        var bytes = Array("red car\tA\tGood\n".utf8)
        bytes += Array("bad".utf8) + [0xFF, 0xFE] + Array("\tB\tGood\n".utf8)  // 2: not UTF-8
        bytes += Array("nul".utf8) + [0x00] + Array("query\tC\tGood\n".utf8)  // 3: NUL in the query
        bytes += Array("bell\u{07}\tD\tBad\n".utf8)  // 4: another control character
        bytes += Array("blue\tE\tExcellent".utf8)
        let file = LabelFile(parsing: bytes, normalizeQuery: Self.normalize)
        #expect(
            file.queries == [
                JudgedQuery(query: "red car", images: ["A"], gains: [2]),
                JudgedQuery(query: "blue", images: ["E"], gains: [3]),
            ]
        )
        #expect(file.rejected.map(\.line) == [2, 3, 4])
        #expect(
            file.rejected.map(\.reason) == [
                "the line is not valid UTF-8",
                "query contains the control character U+0000",
                "query contains the control character U+0007",
            ]
        )
    }

    @Test func aByteOrderMarkIsNotPartOfTheFirstQuery() {
        let file = LabelFile(parsing: [0xEF, 0xBB, 0xBF] + Array("Red Car\tA\tGood\r\nred car\tB\tBad\n".utf8))
        #expect(file.queries.map(\.query) == ["Red Car", "red car"])
        #expect(file.queries.first.map { Array($0.query.utf8) } == Array("Red Car".utf8))
        #expect(file.rejected.isEmpty)
    }
}
