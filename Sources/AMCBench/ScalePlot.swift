import Foundation

/// The curves of `amc bench scale` as one SVG: a grid of panels, each with a logarithmic x axis (the size) and a
/// linear y axis from zero, one polyline with dots per series. Plain text, no dependencies.
struct ScalePlot: Sendable {
    /// One curve.
    struct Series: Sendable {
        var name: String
        var points: [(x: Double, y: Double)]
    }

    /// One chart.
    struct Panel: Sendable {
        var title: String
        var xLabel: String
        var series: [Series]
    }

    var title: String
    var panels: [Panel]
    var columns = 3
    var panelWidth = 340.0
    var panelHeight = 250.0

    private static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

    /// The SVG document.
    func svg() -> String {
        let rows = max(1, (panels.count + columns - 1) / columns)
        let width = Double(columns) * panelWidth
        let height = 40 + Double(rows) * panelHeight
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Self.number(width))" height="\(Self.number(height))" \
            viewBox="0 0 \(Self.number(width)) \(Self.number(height))" font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Self.number(width / 2))" y="24" text-anchor="middle" font-size="15">\(Self.escaped(title))</text>

            """
        for (index, panel) in panels.enumerated() {
            let originX = Double(index % columns) * panelWidth
            let originY = 40 + Double(index / columns) * panelHeight
            out += render(panel, x: originX, y: originY)
        }
        out += "</svg>\n"
        return out
    }

    private func render(_ panel: Panel, x originX: Double, y originY: Double) -> String {
        let left = originX + 58
        let right = originX + panelWidth - 14
        let top = originY + 28
        let bottom = originY + panelHeight - 62
        let points = panel.series.flatMap(\.points).filter { $0.x > 0 && $0.y.isFinite }
        var out = "<g>\n"
        out += "<text x=\"\(Self.number((left + right) / 2))\" y=\"\(Self.number(originY + 16))\" "
        out += "text-anchor=\"middle\" font-size=\"12\">\(Self.escaped(panel.title))</text>\n"
        out += "<rect x=\"\(Self.number(left))\" y=\"\(Self.number(top))\" width=\"\(Self.number(right - left))\" "
        out += "height=\"\(Self.number(bottom - top))\" fill=\"none\" stroke=\"#888\"/>\n"
        guard !points.isEmpty else { return out + "</g>\n" }
        // x: whole decades around the sizes; y: zero to a round maximum.
        let lowDecade = floor(log10(points.map(\.x).min()!))
        var highDecade = ceil(log10(points.map(\.x).max()!))
        if highDecade <= lowDecade { highDecade = lowDecade + 1 }
        let yMax = Self.roundedUp(points.map(\.y).max()!)
        func px(_ x: Double) -> Double { left + (log10(x) - lowDecade) / (highDecade - lowDecade) * (right - left) }
        func py(_ y: Double) -> Double { bottom - y / yMax * (bottom - top) }
        for decade in Int(lowDecade)...Int(highDecade) {
            let x = px(pow(10, Double(decade)))
            out += "<line x1=\"\(Self.number(x))\" y1=\"\(Self.number(top))\" x2=\"\(Self.number(x))\" "
            out += "y2=\"\(Self.number(bottom))\" stroke=\"#eee\"/>\n"
            out += "<text x=\"\(Self.number(x))\" y=\"\(Self.number(bottom + 14))\" text-anchor=\"middle\">"
            out += "10<tspan dy=\"-5\" font-size=\"8\">\(decade)</tspan></text>\n"
        }
        for step in 0...4 {
            let value = yMax * Double(step) / 4
            let y = py(value)
            out += "<line x1=\"\(Self.number(left))\" y1=\"\(Self.number(y))\" x2=\"\(Self.number(right))\" "
            out += "y2=\"\(Self.number(y))\" stroke=\"#eee\"/>\n"
            out += "<text x=\"\(Self.number(left - 4))\" y=\"\(Self.number(y + 4))\" text-anchor=\"end\">"
            out += "\(ScaleReport.figure(value))</text>\n"
        }
        out += "<text x=\"\(Self.number((left + right) / 2))\" y=\"\(Self.number(bottom + 30))\" "
        out += "text-anchor=\"middle\">\(Self.escaped(panel.xLabel))</text>\n"
        for (index, series) in panel.series.enumerated() {
            let color = Self.colors[index % Self.colors.count]
            let drawn = series.points.filter { $0.x > 0 && $0.y.isFinite }.sorted { $0.x < $1.x }
            let path = drawn.map { "\(Self.number(px($0.x))),\(Self.number(py($0.y)))" }.joined(separator: " ")
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for point in drawn {
                out += "<circle cx=\"\(Self.number(px(point.x)))\" cy=\"\(Self.number(py(point.y)))\" r=\"3\" "
                out += "fill=\"\(color)\"/>\n"
            }
            let legendY = bottom + 44 + Double(index / 2) * 13
            let legendX = left + Double(index % 2) * (right - left) / 2
            out += "<rect x=\"\(Self.number(legendX))\" y=\"\(Self.number(legendY - 8))\" width=\"10\" height=\"3\" "
            out += "fill=\"\(color)\"/>\n"
            out += "<text x=\"\(Self.number(legendX + 14))\" y=\"\(Self.number(legendY))\">"
            out += "\(Self.escaped(series.name))</text>\n"
        }
        return out + "</g>\n"
    }

    /// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `value` (1 for nothing positive).
    static func roundedUp(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        let decade = pow(10, floor(log10(value)))
        for factor in [1.0, 2, 2.5, 5, 10] where factor * decade >= value { return factor * decade }
        return 10 * decade
    }

    /// Two decimals at most, no trailing zeros (SVG coordinates).
    static func number(_ value: Double) -> String {
        var text = String(format: "%.2f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// Text content with `&`, `<`, `>` and `"` escaped.
    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

extension ScaleReport {
    /// The report's curves: memory, times, latencies and import over catalog sizes; ingest over table sizes.
    func plot() -> ScalePlot {
        let sizes = catalogs.map { Double($0.images) }
        func series(_ name: String, _ value: (ScaleCatalogFigures) -> Double) -> ScalePlot.Series {
            ScalePlot.Series(name: name, points: zip(sizes, catalogs.map(value)).map { ($0, $1) })
        }
        let tables = ingests.map { Double($0.tableEvents) }
        func ingestSeries(_ name: String, _ value: (ScaleIngestFigures) -> Double) -> ScalePlot.Series {
            ScalePlot.Series(name: name, points: zip(tables, ingests.map(value)).map { ($0, $1) })
        }
        let images = "catalog images"
        let events = "events already in click_events"
        return ScalePlot(
            title: "amc bench scale",
            panels: [
                .init(
                    title: "worker RSS (GB)",
                    xLabel: images,
                    series: [
                        series("when ready") { Double($0.residentBytesReady) / 1e9 },
                        series("peak, swap included") { Double($0.peakResidentBytes) / 1e9 },
                    ]
                ),
                .init(
                    title: "seconds",
                    xLabel: images,
                    series: [
                        series("start → /readyz") { $0.readySeconds }, series("swap, re-encoding") { $0.swapSeconds },
                    ]
                ),
                .init(
                    title: "scoring 100 candidates (ms)",
                    xLabel: images,
                    series: [
                        series("hot p50") { $0.hot.p50 }, series("hot p99") { $0.hot.p99 },
                        series("cold p50") { $0.cold.p50 }, series("cold p99") { $0.cold.p99 },
                    ]
                ),
                .init(
                    title: "catalog import (lines/s)",
                    xLabel: images,
                    series: [series("amc catalog import") { $0.importLinesPerSecond }]
                ),
                .init(
                    title: "ingest (events/s)",
                    xLabel: events,
                    series: [
                        ingestSeries("amc ingest") { $0.ingestEventsPerSecond },
                        ingestSeries("plain COPY") { $0.copyRowsPerSecond },
                    ]
                ),
                .init(title: "ingest / COPY", xLabel: events, series: [ingestSeries("ratio", \.ratio)]),
            ]
        )
    }
}
