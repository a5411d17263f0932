import Foundation

/// The report page's charts as inline SVG (no scripts, nothing fetched: the page works offline). Every chart is an
/// `<svg class="chart" data-chart="NAME">`; a placeholder is never an `svg`.
enum DemoReportCharts {
    /// Line colours, one per method or series, in order.
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]

    /// Horizontal bars with their labels and values; `maximum` is a full bar.
    static func barChart(_ bars: [(label: String, value: Double)], maximum: Double, name: String) -> String {
        let rowHeight = 22
        let labelWidth = 300
        let barWidth = 400
        var svg = open(name, width: labelWidth + barWidth + 60, height: bars.count * rowHeight + 4)
        for (index, bar) in bars.enumerated() {
            let y = index * rowHeight
            let width = Int(Double(barWidth) * max(0, min(1, bar.value / maximum)))
            svg += "<text x=\"0\" y=\"\(y + 15)\">\(escape(bar.label))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(width)\" height=\"16\" fill=\"#4a7bd0\"/>"
            svg += "<text x=\"\(labelWidth + width + 4)\" y=\"\(y + 15)\">\(String(format: "%.3f", bar.value))</text>"
        }
        return svg + "</svg>"
    }

    /// ROC curves in the unit square with the chance diagonal, and a legend of each curve's name and AUC.
    static func rocChart(
        _ curves: [(name: String, auc: Double, points: [(x: Double, y: Double)])],
        name: String
    )
        -> String
    {
        let (left, top, size) = (40, 10, 260)
        var svg = open(name, width: left + size + 230, height: top + size + 40)
        svg += axes(left: left, top: top, width: size, height: size, xLabel: "false positive rate")
        svg += "<text x=\"0\" y=\"\(top + 10)\">TPR</text>"
        svg += "<line x1=\"\(left)\" y1=\"\(top + size)\" x2=\"\(left + size)\" y2=\"\(top)\" stroke=\"#999\" "
        svg += "stroke-dasharray=\"4 4\"/>"
        for (index, curve) in curves.enumerated() {
            let colour = palette[index % palette.count]
            let points = curve.points.map {
                String(format: "%.1f,%.1f", Double(left) + $0.x * Double(size), Double(top) + (1 - $0.y) * Double(size))
            }
            svg += "<polyline class=\"curve\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" "
            svg += "points=\"\(points.joined(separator: " "))\"/>"
            let y = top + 14 + index * 20
            svg += "<rect x=\"\(left + size + 20)\" y=\"\(y - 10)\" width=\"12\" height=\"12\" fill=\"\(colour)\"/>"
            svg += "<text x=\"\(left + size + 38)\" y=\"\(y)\">\(escape(curve.name)) "
            svg += "(AUC \(String(format: "%.3f", curve.auc)))</text>"
        }
        return svg + "</svg>"
    }

    /// Series of values over labelled points on the x axis (the versions, in order), with markers and values.
    static func lineChart(
        _ series: [(name: String, values: [Double?])],
        xLabels: [(title: String, detail: String)],
        name: String
    ) -> String {
        let (left, top, width, height) = (50, 20, max(200, 140 * max(1, xLabels.count - 1)), 220)
        let values = series.flatMap { $0.values.compactMap { $0 } }
        let low = ((values.min() ?? 0) * 10).rounded(.down) / 10
        let high = max(low + 0.1, ((values.max() ?? 1) * 10).rounded(.up) / 10)
        func x(_ index: Int) -> Double {
            xLabels.count < 2
                ? Double(left + width / 2) : Double(left) + Double(index * width) / Double(xLabels.count - 1)
        }
        func y(_ value: Double) -> Double { Double(top) + (high - value) / (high - low) * Double(height) }
        var svg = open(name, width: left + width + 280, height: top + height + 50)
        svg += axes(left: left, top: top, width: width, height: height, xLabel: nil)
        for tick in stride(from: low, through: high + 1e-9, by: 0.1) {
            svg += String(format: "<text x=\"4\" y=\"%.1f\">%.1f</text>", y(tick) + 4, tick)
        }
        for (index, label) in xLabels.enumerated() {
            svg += String(format: "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", x(index), top + height + 18)
            svg += "\(escape(label.title))</text>"
            svg += String(
                format: "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#666\">",
                x(index),
                top + height + 34
            )
            svg += "\(escape(label.detail))</text>"
        }
        for (index, line) in series.enumerated() {
            let colour = palette[index % palette.count]
            let points = line.values.enumerated().compactMap { i, value in
                value.map { String(format: "%.1f,%.1f", x(i), y($0)) }
            }
            svg += "<polyline class=\"series\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" "
            svg += "points=\"\(points.joined(separator: " "))\"/>"
            for (i, value) in line.values.enumerated() {
                guard let value else { continue }
                svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%@\"/>", x(i), y(value), colour)
                svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%.3f</text>", x(i) + 6, y(value) - 6, value)
            }
            let legendY = top + 14 + index * 20
            svg +=
                "<rect x=\"\(left + width + 30)\" y=\"\(legendY - 10)\" width=\"12\" height=\"12\" fill=\"\(colour)\"/>"
            svg += "<text x=\"\(left + width + 88)\" y=\"\(legendY)\">\(escape(line.name))</text>"
        }
        return svg + "</svg>"
    }

    /// The grid of `weights` (row-major, `rows × columns`) as cells shaded by weight (the largest darkest), each
    /// with its value.
    static func heatMap(rows: Int, columns: Int, weights: [Double], name: String) -> String {
        let cell = 36
        var svg = open(name, width: columns * cell + 2, height: rows * cell + 2)
        let largest = max(weights.max() ?? 0, 1e-12)
        for row in 0..<rows {
            for column in 0..<columns {
                let index = row * columns + column
                let weight = index < weights.count ? weights[index] : 0
                let shade = max(0, min(1, weight / largest))
                let fill = String(
                    format: "rgb(%d,%d,%d)",
                    255,
                    Int(255 - 200 * shade),
                    Int(255 - 230 * shade)
                )
                svg += "<rect x=\"\(column * cell + 1)\" y=\"\(row * cell + 1)\" width=\"\(cell)\" height=\"\(cell)\" "
                svg += "fill=\"\(fill)\" stroke=\"#fff\"><title>α \(String(format: "%.3f", weight))</title></rect>"
                svg += "<text x=\"\(column * cell + 4)\" y=\"\(row * cell + 22)\" font-size=\"10\">"
                svg += "\(String(format: "%.2f", weight))</text>"
            }
        }
        return svg + "</svg>"
    }

    /// Text made safe for HTML text and attribute values.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    private static func open(_ name: String, width: Int, height: Int) -> String {
        "<svg class=\"chart\" data-chart=\"\(escape(name))\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" "
            + "height=\"\(height)\" font-size=\"12\">"
    }

    private static func axes(left: Int, top: Int, width: Int, height: Int, xLabel: String?) -> String {
        var svg = "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + height)\" stroke=\"#333\"/>"
        svg +=
            "<line x1=\"\(left)\" y1=\"\(top + height)\" x2=\"\(left + width)\" y2=\"\(top + height)\" stroke=\"#333\"/>"
        if let xLabel {
            svg += "<text x=\"\(left)\" y=\"\(top + height + 16)\">0</text>"
            svg += "<text x=\"\(left + width - 6)\" y=\"\(top + height + 16)\">1</text>"
            svg += "<text x=\"\(left + width / 2)\" y=\"\(top + height + 32)\" text-anchor=\"middle\">\(xLabel)</text>"
        }
        return svg
    }
}
