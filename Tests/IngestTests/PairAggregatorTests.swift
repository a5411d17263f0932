import ClickLog
import Testing

@testable import Ingest

@Suite struct PairAggregatorTests {
    @Test func clicksAddUpPerPairAndSkipsGoToImagesShownAbove() {
        var aggregator = PairAggregator()
        aggregator.add(ClickEvent(query: "q", image: "b", clicks: 2, form: .triad), at: 10)
        aggregator.add(
            ClickEvent(query: "q", image: "c", clicks: 1, impressions: ["a", "b", "c", "d"], form: .json),
            at: 5
        )
        aggregator.add(ClickEvent(query: "q", image: "b", clicks: 3, form: .triad), at: 20)
        let deltas = aggregator.deltas
        #expect(deltas[PairKey(query: "q", image: "b")]?.clicks == 5)
        #expect(deltas[PairKey(query: "q", image: "b")]?.clickEvents == 2)
        #expect(deltas[PairKey(query: "q", image: "b")]?.skips == 1)
        #expect(deltas[PairKey(query: "q", image: "b")]?.firstSeenMicros == 5)
        #expect(deltas[PairKey(query: "q", image: "b")]?.lastSeenMicros == 20)
        #expect(deltas[PairKey(query: "q", image: "a")]?.skips == 1)
        #expect(deltas[PairKey(query: "q", image: "a")]?.clicks == 0)
        #expect(deltas[PairKey(query: "q", image: "d")] == nil, "below the click: not examined")
        #expect(aggregator.sorted.map(\.key.image) == ["a", "b", "c"])
    }

    @Test func arrayLiteralQuotesAndEscapes() {
        #expect(EventStore.arrayLiteral(["a", "b\"c", "d\\e", ""]) == #"{"a","b\"c","d\\e",""}"#)
    }
}
