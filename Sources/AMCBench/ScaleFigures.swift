import Foundation

/// How a figure grows with the size it was measured at, from the slope of log(value) against log(size) between the
/// smallest and the largest size: a cost whose exponent is below 0.25 is **flat**, below 1.25 **linear** (at most
/// about proportional), above that **worse**. For a rate (higher is better) the exponent of its fall is used, so a
/// throughput that holds is flat and one that halves per tenfold size is linear.
public enum ScaleGrowth: String, Sendable, Equatable {
    case flat
    case linear
    case worse

    /// The growth of `points` (size, value); nil with fewer than two usable points (positive sizes and values).
    /// - Parameters:
    ///   - points: (size, value) pairs, in any order.
    ///   - higherIsBetter: True for rates (lines/s, events/s, ratios), false for costs (bytes, seconds).
    public static func classify(_ points: [(size: Double, value: Double)], higherIsBetter: Bool) -> ScaleGrowth? {
        let usable = points.filter { $0.size > 0 && $0.value > 0 && $0.value.isFinite }.sorted { $0.size < $1.size }
        guard let first = usable.first, let last = usable.last, last.size > first.size else { return nil }
        let slope = (log(last.value) - log(first.value)) / (log(last.size) - log(first.size))
        let exponent = higherIsBetter ? -slope : slope
        if exponent < 0.25 { return .flat }
        if exponent < 1.25 { return .linear }
        return .worse
    }
}

/// A process's resident memory, read from `/proc/PID/status`.
public struct ProcessMemory: Sendable, Equatable {
    /// Resident set size now (`VmRSS`), in bytes.
    public var residentBytes: Int
    /// The highest resident set size so far (`VmHWM`), in bytes.
    public var peakResidentBytes: Int

    /// Parses the text of `/proc/PID/status`; nil when `VmRSS` or `VmHWM` is missing (a process that has exited).
    public static func parse(status: String) -> ProcessMemory? {
        var rss: Int?
        var hwm: Int?
        for line in status.split(separator: "\n") {
            if line.hasPrefix("VmRSS:") { rss = kilobytes(line.dropFirst(6)) }
            if line.hasPrefix("VmHWM:") { hwm = kilobytes(line.dropFirst(6)) }
        }
        guard let rss, let hwm else { return nil }
        return ProcessMemory(residentBytes: rss, peakResidentBytes: hwm)
    }

    /// Reads `/proc/PID/status`; nil when it cannot be read or parsed.
    public static func read(pid: Int32) -> ProcessMemory? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return parse(status: text)
    }

    /// `"   123456 kB"` → 123456 × 1024.
    private static func kilobytes(_ field: Substring) -> Int? {
        let parts = field.split(separator: " ", omittingEmptySubsequences: true).flatMap {
            $0.split(separator: "\t", omittingEmptySubsequences: true)
        }
        guard parts.count == 2, parts[1] == "kB", let value = Int(parts[0]) else { return nil }
        return value * 1024
    }
}

/// The figures of one catalog size.
struct ScaleCatalogFigures: Sendable {
    var images: Int
    var importLinesPerSecond = 0.0
    var readySeconds = 0.0
    var residentBytesReady = 0
    var swapSeconds = 0.0
    var peakResidentBytes = 0
    var hot = LatencySummary()
    var cold = LatencySummary()
}

/// The figures of one pre-filled `click_events` table.
struct ScaleIngestFigures: Sendable {
    var tableEvents: Int
    var ingestEventsPerSecond = 0.0
    var copyRowsPerSecond = 0.0
    var ratio: Double { copyRowsPerSecond > 0 ? ingestEventsPerSecond / copyRowsPerSecond : .nan }
}

/// What `amc bench scale` prints and plots: its figures per size, how each grows, and the result line.
struct ScaleReport: Sendable {
    var catalogs: [ScaleCatalogFigures] = []
    var ingests: [ScaleIngestFigures] = []

    /// One row of the table: a figure's name, its values per size, whether a higher value is better.
    struct Row {
        var name: String
        var unit: String
        var higherIsBetter: Bool
        var points: [(size: Double, value: Double)]

        var growth: ScaleGrowth? { ScaleGrowth.classify(points, higherIsBetter: higherIsBetter) }
    }

    /// The catalog figures, one row each, over the catalog sizes.
    var catalogRows: [Row] {
        func row(_ name: String, _ unit: String, better: Bool, _ value: (ScaleCatalogFigures) -> Double) -> Row {
            Row(name: name, unit: unit, higherIsBetter: better, points: catalogs.map { (Double($0.images), value($0)) })
        }
        return [
            row("catalog import", "lines/s", better: true) { $0.importLinesPerSecond },
            row("time to /readyz", "s", better: false) { $0.readySeconds },
            row("RSS when ready", "GB", better: false) { Double($0.residentBytesReady) / 1e9 },
            row("swap, re-encoding", "s", better: false) { $0.swapSeconds },
            row("peak RSS (swap included)", "GB", better: false) { Double($0.peakResidentBytes) / 1e9 },
            row("p50, 100 hot", "ms", better: false) { $0.hot.p50 },
            row("p99, 100 hot", "ms", better: false) { $0.hot.p99 },
            row("p50, 100 cold", "ms", better: false) { $0.cold.p50 },
            row("p99, 100 cold", "ms", better: false) { $0.cold.p99 },
        ]
    }

    /// The ingest figures, one row each, over the pre-filled table sizes.
    var ingestRows: [Row] {
        func row(_ name: String, _ unit: String, _ value: (ScaleIngestFigures) -> Double) -> Row {
            Row(
                name: name,
                unit: unit,
                higherIsBetter: true,
                points: ingests.map { (Double($0.tableEvents), value($0)) }
            )
        }
        return [
            row("amc ingest", "events/s") { $0.ingestEventsPerSecond },
            row("plain COPY", "rows/s") { $0.copyRowsPerSecond },
            row("ingest / COPY", "", \.ratio),
        ]
    }

    /// The table: one line per figure, its value at each size and how it grows.
    func table() -> String {
        var lines: [String] = []
        func section(_ title: String, sizes: [Int], rows: [Row]) {
            guard !sizes.isEmpty else { return }
            let header =
                [title.padding(toLength: 34, withPad: " ", startingAt: 0)]
                + sizes.map { Self.sizeLabel($0).leftPadded(12) } + ["  growth"]
            lines.append(header.joined())
            for row in rows {
                let name = (row.name + (row.unit.isEmpty ? "" : " (\(row.unit))"))
                    .padding(toLength: 34, withPad: " ", startingAt: 0)
                let values = row.points.map { Self.figure($0.value).leftPadded(12) }
                lines.append(([name] + values + ["  " + (row.growth?.rawValue ?? "—")]).joined())
            }
        }
        section("catalog images", sizes: catalogs.map(\.images), rows: catalogRows)
        if !catalogs.isEmpty && !ingests.isEmpty { lines.append("") }
        section("events already in click_events", sizes: ingests.map(\.tableEvents), rows: ingestRows)
        return lines.joined(separator: "\n")
    }

    /// `RESULT rss_gb_1e6=… ready_s_1e6=… p99_ms_1e6_hot=… ingest_ratio_1e7=…`; `nan` for a size not measured.
    func resultLine() -> String {
        let million = catalogs.first { $0.images == 1_000_000 }
        let tenMillion = ingests.first { $0.tableEvents == 10_000_000 }
        func value(_ number: Double?, _ format: String) -> String {
            guard let number, number.isFinite else { return "nan" }
            return String(format: format, number)
        }
        return "RESULT rss_gb_1e6=\(value(million.map { Double($0.peakResidentBytes) / 1e9 }, "%.2f")) "
            + "ready_s_1e6=\(value(million?.readySeconds, "%.1f")) "
            + "p99_ms_1e6_hot=\(value(million?.hot.p99, "%.2f")) "
            + "ingest_ratio_1e7=\(value(tenMillion?.ratio, "%.3f"))"
    }

    /// 10000 → `1e4`; other sizes as they are.
    static func sizeLabel(_ size: Int) -> String {
        var exponent = 0
        var rest = size
        while rest >= 10, rest % 10 == 0 {
            rest /= 10
            exponent += 1
        }
        return rest == 1 && exponent >= 3 ? "1e\(exponent)" : "\(size)"
    }

    /// Three significant figures, no exponent for the values benchmarks print.
    static func figure(_ value: Double) -> String {
        guard value.isFinite else { return "—" }
        if value >= 1000 { return String(format: "%.0f", value) }
        if value >= 100 { return String(format: "%.1f", value) }
        if value >= 1 { return String(format: "%.2f", value) }
        return String(format: "%.3f", value)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
