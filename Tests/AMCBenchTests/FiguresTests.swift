import Model
import Testing

@testable import AMCBench

/// The arithmetic and the lines the benchmarks print: nearest-rank percentiles, the RESULT lines scripts parse.
@Suite struct FiguresTests {
    @Test func percentilesAreNearestRank() {
        // Nearest rank: the value at 1-based rank ⌈p·n⌉ of the sorted sample.
        let ten = LatencySummary([7, 3, 10, 1, 9, 2, 8, 4, 6, 5])
        #expect(ten.p50 == 5)  // ⌈0.5·10⌉ = 5th
        #expect(ten.p99 == 10)  // ⌈0.99·10⌉ = 10th
        #expect(ten.max == 10)
        #expect(ten.count == 10)

        let hundred = LatencySummary((1...100).reversed().map(Double.init))
        #expect(hundred.p50 == 50)  // ⌈50⌉ = 50th, not the 51st
        #expect(hundred.p99 == 99)  // ⌈99⌉ = 99th, not the maximum

        let twoHundredOne = LatencySummary((1...201).map { Double($0) / 10 })
        #expect(twoHundredOne.p50 == 10.1)  // ⌈100.5⌉ = 101st
        #expect(twoHundredOne.p99 == 19.9)  // ⌈198.99⌉ = 199th
        #expect(twoHundredOne.max == 20.1)

        let three = LatencySummary([0.3, 0.1, 0.2])
        #expect(three.p50 == 0.2)  // ⌈1.5⌉ = 2nd
        #expect(three.p99 == 0.3)  // ⌈2.97⌉ = 3rd
    }

    @Test func largestScoreDifferenceIsTheLargestAbsoluteOneAndNaNWins() {
        #expect(BenchScore.largestDifference([0.5, 0.25, -0.1], [0.5, 0.2, 0.1]) == abs(Float(-0.1) - 0.1))
        #expect(BenchScore.largestDifference([], []) == 0)
        #expect(BenchScore.largestDifference([0.5, .nan, 0.9], [0.5, 0.2, 0.1]).isNaN)
    }

    @Test func percentilesOfOneAndOfNone() {
        let one = LatencySummary([4.5])
        #expect(one.p50 == 4.5 && one.p99 == 4.5 && one.max == 4.5 && one.count == 1)
        let none = LatencySummary([Double]())
        #expect(none.p50 == 0 && none.p99 == 0 && none.max == 0 && none.count == 0)
    }

    @Test func ingestResultLine() {
        #expect(
            BenchIngest.resultLine(ingestRate: 95_000.4, copyRate: 140_000, referenceRate: 31_500.6)
                == "RESULT ingest_events_per_s=95000 copy_rows_per_s=140000 reference_events_per_s=31501 ratio=0.679"
        )
        #expect(
            BenchIngest.resultLine(ingestRate: 50_000, copyRate: 100_000, referenceRate: 0)
                == "RESULT ingest_events_per_s=50000 copy_rows_per_s=100000 reference_events_per_s=0 ratio=0.500"
        )
    }

    @Test func learnSummaryLines() {
        let weights = AMCWeights(zerosFor: ModelConfiguration())
        let swift = BenchLearn.Measurement(pairsPerSecond: 12_345.6, checkLosses: [0.5], checked: weights)
        var row = BenchLearn.Row(name: "MTN fine-tune", scope: .modalityAttentionOnly, swift: swift)
        #expect(
            BenchLearn.summaryLine("RESULT finetune", row)
                == "RESULT finetune_pairs_per_s=12346 reference_pairs_per_s=0 ratio=0.00"
        )
        row.reference = BenchLearn.Measurement(pairsPerSecond: 4_000, checkLosses: [0.5], checked: weights)
        #expect(
            BenchLearn.summaryLine("BOOTSTRAP bootstrap", row)
                == "BOOTSTRAP bootstrap_pairs_per_s=12346 reference_pairs_per_s=4000 ratio=3.09"
        )
    }

    @Test func scoreResultLine() {
        var report = BenchScore.Report()
        report.inProcess = LatencySummary(p50: 0.4, p99: 0.8124, max: 1, count: 10)
        report.steady = LatencySummary(p50: 2, p99: 4, max: 5, count: 10)
        report.swapping = LatencySummary(p50: 2, p99: 5, max: 6, count: 10)
        report.swapFailed = 1
        report.rollbackFailed = 2
        report.misversioned = 3
        #expect(report.swapRatio == 1.25)
        #expect(
            report.resultLine
                == "RESULT score_p99_ms=0.812 http_p99_ms=4.000 swap_failed=6 swap_p99_ratio=1.25 ort_p99_ms=nan"
        )
        report.onnxRuntime = LatencySummary(p50: 0.5, p99: 1.6, max: 2, count: 10)
        #expect(report.resultLine.hasSuffix(" swap_p99_ratio=1.25 ort_p99_ms=1.600"))
    }

    @Test func referenceFiguresAreReadFromTheirLines() {
        let lines: [Substring] = [
            "VERSIONS onnxruntime=1.32.0 numpy=2.4.6", "FIRST 0.5",
            "REFERENCE queries=100 p50_ms=0.4 p99_ms=0.62 max_ms=1",
        ]
        let (latency, versions) = NumPyReference.scoringFigures(lines)
        #expect(versions == "onnxruntime=1.32.0 numpy=2.4.6")
        #expect(latency == LatencySummary(p50: 0.4, p99: 0.62, max: 1, count: 100))
        #expect(NumPyReference.scoringFigures(["REFERENCE queries=100 p50_ms=0.4"]).latency == nil)
    }

    @Test func architectureLines() {
        var score = BenchScore.ArchitectureRow(
            architecture: "late_fusion",
            inProcess: LatencySummary(p50: 0.0504, p99: 0.0806, max: 1, count: 10)
        )
        #expect(score.line == "ARCH late_fusion p50_ms=0.050 p99_ms=0.081 numpy_p99_ms=nan")
        #expect(score.meetsTargets)
        score.reference = LatencySummary(p50: 0.05, p99: 0.09, max: 1, count: 10)
        #expect(score.line == "ARCH late_fusion p50_ms=0.050 p99_ms=0.081 numpy_p99_ms=0.090")
        // Faster than NumPy means at p50; p99 must stay under 2 ms.
        #expect(!score.meetsTargets)
        score.reference?.p50 = 0.06
        #expect(score.meetsTargets)
        score.inProcess.p99 = 2
        #expect(!score.meetsTargets)

        let learn = BenchLearn.ArchitectureRow(
            architecture: "amc",
            bootstrapPairsPerSecond: 14_131.4,
            finetunePairsPerSecond: 30_450.5,
            onlineTensors: ["M_v"]
        )
        #expect(learn.line == "ARCH amc bootstrap_pairs_per_s=14131 finetune_pairs_per_s=30450")
    }
}
