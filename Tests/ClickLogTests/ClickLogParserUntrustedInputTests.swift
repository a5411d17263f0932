import Testing

@testable import ClickLog

/// Input a file editor or a hostile producer makes: byte-order marks, repeated impressions, absurd event times.
@Suite struct ClickLogParserUntrustedInputTests {
    let parser = ClickLogParser()
    static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    @Test func aByteOrderMarkBeforeATriadIsNotPartOfTheImageKey() throws {
        for tail in ["img7\tRed Car\t2", "img7\tRed Car\t2\r\n", "imgé\tRed Car\t2"] {
            let event = try parser.parse(Self.bom + Array(tail.utf8)).get()
            expectSameBytes(event.image, tail.hasPrefix("imgé") ? "imgé" : "img7")
            expectSameBytes(event.query, "red car")
        }
    }

    @Test func aByteOrderMarkBeforeAJSONEventIsIgnored() throws {
        let event = try parser.parse(Self.bom + Array(#"{"query": "q", "image": "i"}"#.utf8)).get()
        #expect(event == ClickEvent(query: "q", image: "i", clicks: 1, form: .json))
    }

    @Test func aByteOrderMarkElsewhereIsStillRefusedWhereItWasBefore() {
        // Only a leading mark is dropped; one inside the image key is not whitespace or a control and stays.
        let event = parser.parse(Array("img".utf8) + Self.bom + Array("\tq\t1".utf8)).success
        #expect(event?.image == "img\u{FEFF}")
        #expect(parser.parse(Self.bom).failure?.reason == .empty)
    }

    @Test func anImpressionListNamingAnImageTwiceGivesItOneSkip() throws {
        let event = try parser.parse(
            #"{"query": "q", "image": "c", "impressions": ["a", "b", "a", "a", "c", "d"]}"#
        ).get()
        #expect(event.position == 4)
        #expect(event.skippedAbove == ["a", "b"])
    }

    @Test func theClickedImageShownAboveItsClickIsNotASkip() throws {
        let event = try parser.parse(
            #"{"query": "q", "image": "c", "position": 3, "impressions": ["c", "b", "b", "c"]}"#
        ).get()
        #expect(event.skippedAbove == ["b"])
    }

    @Test func longImpressionListsAreDeduplicatedToo() {
        let keys = (0..<200).map { "i\($0 % 50)" } + ["c"]
        let event = ClickEvent(query: "q", image: "c", clicks: 1, impressions: keys, form: .json)
        #expect(event.skippedAbove == (0..<50).map { "i\($0)" })
    }

    // MARK: - Event time bounds

    static let received: Int64 = 1_796_000_000_000_000  // 2026-11-30T00:53:20Z
    static let day: Int64 = 86_400_000_000

    @Test func eventTimesWithinTheBoundsAreAccepted() {
        for offset in [0, Self.day, -730 * Self.day, -Self.day, Self.day / 2] {
            #expect(
                parser.eventTimeProblem(Self.received + offset, source: "field 'ts'", receivedAtMicros: Self.received)
                    == nil
            )
        }
    }

    @Test func eventTimesOutsideTheBoundsAreRefusedWithTheReason() throws {
        let yearOne = try #require(RFC3339.parseMicros("0001-01-01T00:00:00Z"))
        let year9999 = try #require(RFC3339.parseMicros("9999-12-31T23:59:59Z"))
        let old = try #require(parser.eventTimeProblem(yearOne, source: "field 'ts'", receivedAtMicros: Self.received))
        #expect(old.reason == .eventTimeOutOfRange)
        #expect(old.reason.rawValue == "event_time_out_of_range")
        #expect(
            old.detail.hasPrefix(
                "field 'ts' 0001-01-01T00:00:00Z is more than 730 day(s) before the message was received"
            )
        )
        let future = try #require(
            parser.eventTimeProblem(year9999, source: "the Kafka message timestamp", receivedAtMicros: Self.received)
        )
        #expect(future.detail.hasPrefix("the Kafka message timestamp 9999-12-31T23:59:59Z is more than 1 day(s) after"))
        #expect(
            parser.eventTimeProblem(Self.received + Self.day + 1, source: "x", receivedAtMicros: Self.received) != nil
        )
        #expect(
            parser.eventTimeProblem(Self.received - 730 * Self.day - 1, source: "x", receivedAtMicros: Self.received)
                != nil
        )
        #expect(parser.eventTimeProblem(.max, source: "x", receivedAtMicros: Self.received) != nil)
        #expect(parser.eventTimeProblem(.min, source: "x", receivedAtMicros: Self.received) != nil)
    }

    @Test func theBoundsAreLimits() {
        var limits = ClickLogParser.Limits()
        limits.maxEventTimeAhead = .seconds(3600)
        limits.maxEventAge = .seconds(36 * 3600)
        let strict = ClickLogParser(limits: limits)
        let hour: Int64 = 3_600_000_000
        #expect(
            strict.eventTimeProblem(Self.received + 2 * hour, source: "x", receivedAtMicros: Self.received)?.detail
                .contains("1 hour(s) after") == true
        )
        #expect(
            strict.eventTimeProblem(Self.received - 37 * hour, source: "x", receivedAtMicros: Self.received)?.detail
                .contains("36 hour(s) before") == true
        )
        #expect(strict.eventTimeProblem(Self.received - 35 * hour, source: "x", receivedAtMicros: Self.received) == nil)
    }
}
