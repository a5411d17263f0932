import Foundation
import TestSupport
import Testing

/// `amc bench scale` end to end at tiny sizes (the real binary as its own import and worker, an embedded PostgreSQL,
/// the mock broker): every step runs, the table names each figure's growth, the plot is written, and the last line
/// is the RESULT line (`nan` for the sizes not run).
@Suite(.timeLimit(.minutes(10)))
struct BenchScaleCommandTests {
    @Test func tinyRunPrintsTheTableWritesThePlotAndEndsWithTheResultLine() async throws {
        let plot = FileManager.default.temporaryDirectory.appendingPathComponent("scale-\(UUID().uuidString).svg")
        defer { try? FileManager.default.removeItem(at: plot) }
        let result = try await amcWithDeadline(
            [
                "bench", "scale", "--sizes", "200", "400", "--events", "0", "--ingest-events", "1000", "--requests",
                "5", "--regions", "4", "--keywords", "6", "--plot", plot.path,
            ],
            deadline: .seconds(400)
        )
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(
            lines.contains { $0.hasPrefix("     400 images: ready in ") && $0.contains("swap") },
            "\(result.stdout)"
        )
        #expect(lines.contains { $0.hasPrefix("       0 events already: amc ingest ") }, "\(result.stdout)")
        let growth = lines.first { $0.hasPrefix("time to /readyz (s)") }
        #expect(
            growth?.hasSuffix("flat") == true || growth?.hasSuffix("linear") == true
                || growth?.hasSuffix("worse") == true
        )
        let svg = try String(contentsOf: plot, encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("<polyline"))
        #expect(lines.last == "RESULT rss_gb_1e6=nan ready_s_1e6=nan p99_ms_1e6_hot=nan ingest_ratio_1e7=nan")
    }
}
