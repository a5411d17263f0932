import Foundation
import Testing

@testable import AMCBench

/// The pure pieces of `amc bench adapt`: a watermark's visibility, matching clicks to the first served version whose
/// window includes them, and detecting when the served quality comes within the tolerance of the retrain.
@Suite struct AdaptationMeasuresTests {
    @Test func aWatermarkSeesTheTransactionsThatFinishedBeforeItAndNoneThatRanOrCameAfter() throws {
        let snapshot = try #require(TransactionSnapshot("10:20:10,15"))
        #expect(snapshot.xmin == 10 && snapshot.xmax == 20 && snapshot.inProgress == [10, 15])
        for xid: UInt64 in [1, 9, 11, 14, 16, 19] { #expect(snapshot.sees(xid), "\(xid)") }
        for xid: UInt64 in [10, 15, 20, 21, 1000] { #expect(!snapshot.sees(xid), "\(xid)") }
        let empty = try #require(TransactionSnapshot("7:7:"))
        #expect(empty.sees(6) && !empty.sees(7))
        for text in ["", "7:7", "a:9:", "9:7:", "7:9:12", "7:9:x", "7:9:8:1"] {
            #expect(TransactionSnapshot(text) == nil, "\(text)")
        }
    }

    @Test func eachClickIsMatchedToTheFirstServedVersionWhoseWindowIncludesIt() throws {
        let t = Date(timeIntervalSince1970: 1_000_000)
        let served = [
            // Given out of order: matching follows when each was served.
            ClickToModel.ServedVersion(
                version: 3,
                watermark: try #require(TransactionSnapshot("120:120:")),
                servedAt: t + 9
            ),
            ClickToModel.ServedVersion(
                version: 1,
                watermark: try #require(TransactionSnapshot("100:100:")),
                servedAt: t
            ),
            ClickToModel.ServedVersion(
                version: 2,
                watermark: try #require(TransactionSnapshot("105:112:105")),
                servedAt: t + 5
            ),
        ]
        let clicks = [
            ClickToModel.Click(producedAt: t + 1, xid: 101),  // in version 2's window: 4 s
            ClickToModel.Click(producedAt: t + 1.5, xid: 105),  // running at version 2's snapshot: version 3, 7.5 s
            ClickToModel.Click(producedAt: t + 3, xid: 111),  // finished before version 2's snapshot: 2 s
            ClickToModel.Click(producedAt: t + 8, xid: 125),  // after every snapshot: not reached
        ]
        let outcome = ClickToModel.match(clicks, served)
        #expect(outcome.seconds == [4, 7.5, 2])
        #expect(outcome.uncovered == 1)
        // Percentiles over all four clicks, the one never reached ranked last.
        #expect(outcome.percentile(0.25) == 2 && outcome.percentile(0.5) == 4 && outcome.percentile(0.75) == 7.5)
        #expect(outcome.percentile(0.99) == nil)
        #expect(ClickToModel.Outcome(seconds: [], uncovered: 0).percentile(0.5) == nil)
    }

    @Test func theVersionsLookedAtAreTheOneServingAtTheShiftThenEveryLaterOneInServingOrder() {
        let shift = Date(timeIntervalSince1970: 5000)
        let served = [
            AdaptationDetection.Served(version: 4, servedAt: shift + 20),
            AdaptationDetection.Served(version: 1, servedAt: shift - 60),
            AdaptationDetection.Served(version: 2, servedAt: shift - 5),
            AdaptationDetection.Served(version: 3, servedAt: shift + 8),
        ]
        #expect(AdaptationDetection.candidates(served, shift: shift).map(\.version) == [2, 3, 4])
        #expect(AdaptationDetection.candidates(Array(served.prefix(1)), shift: shift).map(\.version) == [4])
    }

    @Test func adaptationIsTheFirstServingWithinTheToleranceOfTheReferenceAndStopsEvaluatingThere() {
        let shift = Date(timeIntervalSince1970: 5000)
        let served = [
            AdaptationDetection.Served(version: 2, servedAt: shift - 5),
            AdaptationDetection.Served(version: 3, servedAt: shift + 8),
            AdaptationDetection.Served(version: 4, servedAt: shift + 20),
            AdaptationDetection.Served(version: 5, servedAt: shift + 31),
            AdaptationDetection.Served(version: 6, servedAt: shift + 40),
        ]
        let quality: [Int64: Double] = [2: 0.60, 3: 0.70, 4: 0.7875, 5: 0.83, 6: 0.85]
        var asked: [Int64] = []
        let outcome = AdaptationDetection.detect(served, shift: shift, reference: 0.80, tolerance: 0.01) {
            asked.append($0)
            return quality[$0]!
        }
        // 0.7875 is still 0.0125 short; 0.83 is above the reference: 31 s after the shift. Version 6 is never evaluated.
        #expect(outcome.seconds == 31)
        #expect(asked == [2, 3, 4, 5])
        #expect(outcome.evaluated.map(\.ndcg5) == [0.60, 0.70, 0.7875, 0.83])

        // Exactly the tolerance below counts.
        let boundary = AdaptationDetection.detect(served, shift: shift, reference: 0.7975, tolerance: 0.01) {
            quality[$0]!
        }
        #expect(boundary.seconds == 20)
        // Already adapted at the shift: 0; never adapted: nil, every version evaluated.
        #expect(
            AdaptationDetection.detect(served, shift: shift, reference: 0.6, tolerance: 0.01) { quality[$0]! }.seconds
                == 0
        )
        let never = AdaptationDetection.detect(served, shift: shift, reference: 0.9, tolerance: 0.01) { quality[$0]! }
        #expect(never.seconds == nil && never.evaluated.count == 5)
    }

    @Test func theResultLineNamesTheThreeFiguresAndMarksOnesTheRunNeverReached() {
        #expect(
            BenchAdapt.resultLine(clickToModelP50: 3.456, adapt: 42.04, baselineAdapt: 71.26)
                == "RESULT click_to_model_p50_s=3.46 adapt_s=42.0 baseline_adapt_s=71.3"
        )
        #expect(
            BenchAdapt.resultLine(clickToModelP50: nil, adapt: nil, baselineAdapt: nil)
                == "RESULT click_to_model_p50_s=-1.00 adapt_s=-1.0 baseline_adapt_s=-1.0"
        )
    }
}
