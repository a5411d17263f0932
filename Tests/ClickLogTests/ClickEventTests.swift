import Testing

@testable import ClickLog

@Suite struct ClickEventTests {
    func event(image: String, position: Int32?, impressions: [String]?) -> ClickEvent {
        ClickEvent(query: "q", image: image, clicks: 1, position: position, impressions: impressions, form: .json)
    }

    @Test func initStoresEveryField() {
        let event = ClickEvent(
            query: "q",
            image: "i",
            clicks: 5,
            position: 2,
            timestampMicros: -7,
            impressions: ["a"],
            session: "s",
            form: .triad
        )
        #expect(event.query == "q")
        #expect(event.image == "i")
        #expect(event.clicks == 5)
        #expect(event.position == 2)
        #expect(event.timestampMicros == -7)
        #expect(event.impressions == ["a"])
        #expect(event.session == "s")
        #expect(event.form == .triad)
        #expect(ClickEvent.Form.json.rawValue == "json")
        #expect(ClickEvent.Form.triad.rawValue == "triad")
    }

    @Test func skippedAboveIsEmptyWithoutImpressions() {
        #expect(event(image: "c", position: 2, impressions: nil).skippedAbove.isEmpty)
    }

    @Test func skippedAboveReturnsImagesShownAboveTheClickedOne() {
        #expect(Array(event(image: "c", position: 2, impressions: ["a", "b", "c", "d"]).skippedAbove) == ["a", "b"])
    }

    @Test func skippedAboveUsesFirstOccurrenceWhenPositionIsUnknown() {
        #expect(Array(event(image: "c", position: nil, impressions: ["a", "b", "c", "d"]).skippedAbove) == ["a", "b"])
    }

    @Test func skippedAboveIsEmptyWhenClickedImageIsFirst() {
        #expect(event(image: "a", position: 0, impressions: ["a", "b"]).skippedAbove.isEmpty)
    }

    @Test func skippedAboveIsEmptyWhenClickedImageWasNotShown() {
        #expect(event(image: "z", position: 1, impressions: ["a", "b"]).skippedAbove.isEmpty)
        #expect(event(image: "z", position: nil, impressions: []).skippedAbove.isEmpty)
    }

    @Test func skippedAboveHonoursPositionOfARepeatedImage() {
        let impressions = ["a", "x", "b", "x"]
        // The clicked image itself, shown again above its click, is not a skip of it.
        #expect(Array(event(image: "x", position: 3, impressions: impressions).skippedAbove) == ["a", "b"])
        #expect(Array(event(image: "x", position: nil, impressions: impressions).skippedAbove) == ["a"])
    }

    @Test(arguments: [Int32(0), 1, 10, Int32.max, -1, Int32.min])
    func skippedAboveFallsBackToImpressionsWhenPositionDoesNotMatch(position: Int32) {
        // The clicked image "c" is at rank 2; any other (or out-of-range) position falls back to that.
        #expect(Array(event(image: "c", position: position, impressions: ["a", "b", "c"]).skippedAbove) == ["a", "b"])
    }
}
