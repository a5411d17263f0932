import Foundation
import Testing

@testable import AMCBench

/// The pure pieces of `amc bench scale`: growth classification, `/proc` memory parsing, the table, the result line
/// and the SVG plot.
@Suite struct ScaleFiguresTests {
    @Test func growthIsTheExponentOfTheValueAgainstTheSize() {
        let sizes = [1e4, 1e5, 1e6]
        func points(_ values: [Double]) -> [(size: Double, value: Double)] { zip(sizes, values).map { ($0, $1) } }
        // Costs: a constant is flat, a proportional cost linear, a quadratic one worse.
        #expect(ScaleGrowth.classify(points([2, 2.2, 2.4]), higherIsBetter: false) == .flat)
        #expect(ScaleGrowth.classify(points([1, 10, 100]), higherIsBetter: false) == .linear)
        #expect(ScaleGrowth.classify(points([1, 3, 10]), higherIsBetter: false) == .linear)  // sub-linear: 0.5
        #expect(ScaleGrowth.classify(points([1, 100, 10_000]), higherIsBetter: false) == .worse)
        // Rates: one that holds (or rises) is flat, one that falls tenfold per tenfold size linear.
        #expect(ScaleGrowth.classify(points([9000, 8800, 8500]), higherIsBetter: true) == .flat)
        #expect(ScaleGrowth.classify(points([100, 200, 400]), higherIsBetter: true) == .flat)
        #expect(ScaleGrowth.classify(points([1000, 100, 10]), higherIsBetter: true) == .linear)
        #expect(ScaleGrowth.classify(points([10_000, 100, 1]), higherIsBetter: true) == .worse)
        // Order does not matter; the ends decide.
        #expect(ScaleGrowth.classify([(1e6, 100), (1e4, 1)], higherIsBetter: false) == .linear)
    }

    @Test func growthNeedsTwoUsableSizes() {
        #expect(ScaleGrowth.classify([(1e4, 5)], higherIsBetter: false) == nil)
        #expect(ScaleGrowth.classify([], higherIsBetter: true) == nil)
        #expect(ScaleGrowth.classify([(1e4, 5), (1e5, 0)], higherIsBetter: false) == nil)
        #expect(ScaleGrowth.classify([(1e4, 5), (1e4, 50)], higherIsBetter: false) == nil)
        #expect(ScaleGrowth.classify([(1e4, 5), (1e5, .nan), (1e6, 5)], higherIsBetter: false) == .flat)
    }

    @Test func memoryIsReadFromVmRSSAndVmHWMInKilobytes() throws {
        let status = """
            Name:\tamc
            State:\tS (sleeping)
            VmPeak:\t 2345678 kB
            VmSize:\t 2345000 kB
            VmHWM:\t  812345 kB
            VmRSS:\t  456789 kB
            Threads:\t9
            """
        let memory = try #require(ProcessMemory.parse(status: status))
        #expect(memory.residentBytes == 456_789 * 1024)
        #expect(memory.peakResidentBytes == 812_345 * 1024)
        // A process that has exited (a zombie) has no memory lines.
        #expect(ProcessMemory.parse(status: "Name:\tamc\nState:\tZ (zombie)\n") == nil)
        #expect(ProcessMemory.parse(status: "VmHWM:\t12 kB\nVmRSS:\tmany kB\n") == nil)
    }

    @Test func memoryOfThisProcessIsReadFromProc() throws {
        let memory = try #require(ProcessMemory.read(pid: getpid()))
        #expect(memory.residentBytes > 1_000_000)
        #expect(memory.peakResidentBytes >= memory.residentBytes)
    }

    @Test func resultLineNamesTheMillionImageAndTenMillionEventFigures() {
        var report = ScaleReport()
        report.catalogs = [
            ScaleCatalogFigures(images: 10_000, readySeconds: 1, peakResidentBytes: 300_000_000),
            ScaleCatalogFigures(
                images: 1_000_000,
                readySeconds: 42.25,
                peakResidentBytes: 5_123_000_000,
                hot: LatencySummary(p50: 1, p99: 3.456)
            ),
        ]
        report.ingests = [
            ScaleIngestFigures(tableEvents: 1_000_000, ingestEventsPerSecond: 90_000, copyRowsPerSecond: 100_000),
            ScaleIngestFigures(tableEvents: 10_000_000, ingestEventsPerSecond: 70_000, copyRowsPerSecond: 100_000),
        ]
        #expect(
            report.resultLine() == "RESULT rss_gb_1e6=5.12 ready_s_1e6=42.2 p99_ms_1e6_hot=3.46 ingest_ratio_1e7=0.700"
        )
    }

    @Test func resultLineSaysNanForSizesNotRun() {
        var report = ScaleReport()
        report.catalogs = [ScaleCatalogFigures(images: 10_000, readySeconds: 1)]
        report.ingests = [ScaleIngestFigures(tableEvents: 1_000_000, ingestEventsPerSecond: 1, copyRowsPerSecond: 2)]
        #expect(report.resultLine() == "RESULT rss_gb_1e6=nan ready_s_1e6=nan p99_ms_1e6_hot=nan ingest_ratio_1e7=nan")
    }

    @Test func tableHasOneLinePerFigureWithItsGrowth() {
        var report = ScaleReport()
        report.catalogs = [
            ScaleCatalogFigures(
                images: 10_000,
                importLinesPerSecond: 9000,
                readySeconds: 1,
                residentBytesReady: 100_000_000
            ),
            ScaleCatalogFigures(
                images: 100_000,
                importLinesPerSecond: 8800,
                readySeconds: 10,
                residentBytesReady: 1_000_000_000
            ),
        ]
        let lines = report.table().split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("catalog images") == true && lines.first?.contains("1e4") == true)
        #expect(lines.first?.contains("1e5") == true)
        let ready = lines.first { $0.hasPrefix("time to /readyz (s)") }
        #expect(ready?.hasSuffix("  linear") == true, "\(lines)")
        let imports = lines.first { $0.hasPrefix("catalog import (lines/s)") }
        #expect(imports?.hasSuffix("  flat") == true && imports?.contains("9000") == true, "\(lines)")
        #expect(lines.count == 1 + report.catalogRows.count)  // no ingest section without ingest figures
    }

    @Test func sizeLabelsArePowersOfTen() {
        #expect(ScaleReport.sizeLabel(10_000) == "1e4")
        #expect(ScaleReport.sizeLabel(1_000_000) == "1e6")
        #expect(ScaleReport.sizeLabel(20_000) == "20000")
        #expect(ScaleReport.sizeLabel(100) == "100")
    }

    @Test func plotIsAnSVGWithOnePolylineAndOneDotPerPointOfEachSeries() {
        let plot = ScalePlot(
            title: "a <b> & c",
            panels: [
                .init(
                    title: "one",
                    xLabel: "size",
                    series: [.init(name: "s", points: [(1e4, 1), (1e5, 2), (1e6, 4)])]
                ),
                .init(
                    title: "two",
                    xLabel: "size",
                    series: [
                        .init(name: "t", points: [(1e6, 3), (1e7, 5)]),
                        .init(name: "u", points: [(1e6, 1), (1e7, 0.5)]),
                    ]
                ),
            ]
        )
        let svg = plot.svg()
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        #expect(svg.hasSuffix("</svg>\n"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 3)
        #expect(svg.components(separatedBy: "<circle").count - 1 == 7)
        #expect(svg.contains("a &lt;b&gt; &amp; c") && !svg.contains("a <b>"))
        // Decade ticks 10⁴…10⁶ in the first panel; the largest value sits on the top of the y axis (4 → 4).
        #expect(svg.contains("10<tspan dy=\"-5\" font-size=\"8\">4</tspan>"))
    }

    @Test func plotAxesRoundUpToOneTwoFiveSteps() {
        #expect(ScalePlot.roundedUp(4) == 5)
        #expect(ScalePlot.roundedUp(0.7) == 1)
        #expect(ScalePlot.roundedUp(2.2) == 2.5)
        #expect(ScalePlot.roundedUp(120_000) == 200_000)
        #expect(ScalePlot.roundedUp(0) == 1)
        #expect(ScalePlot.number(12.5) == "12.5" && ScalePlot.number(3) == "3" && ScalePlot.number(0.126) == "0.13")
    }

    @Test func unknownImagesAreSeenInTheScoringAnswer() {
        #expect(BenchScale.hasUnknownImages(Array(#"{"results":[],"unknown_images":["a"]}"#.utf8)))
        #expect(!BenchScale.hasUnknownImages(Array(#"{"results":[],"unknown_images":[]}"#.utf8)))
        #expect(!BenchScale.hasUnknownImages(Array(#"{"results":[]}"#.utf8)))
    }
}
