import CommandSupport
import Foundation
import Serving

/// How `amc explain` prints an explained score for people: the score, `β`, the top keywords with `λ`, and the region
/// attention `α` as a small heat map (`Docs/serving.md`).
struct ExplanationText {
    /// Whether the heat map may use colour.
    enum Style {
        /// Shade blocks only (stdout is not a terminal, `NO_COLOR` is set, or `TERM=dumb`).
        case plain
        /// Shade blocks coloured from a 256-colour heat ramp.
        case color
    }

    /// The shade of each heat level, lightest first; a cell is two characters wide so the grid looks square.
    static let shades: [Character] = [" ", "░", "▒", "▓", "█"]
    /// The 256-colour palette index of each heat level (grey, blue, teal, amber, red).
    static let colors = [240, 33, 37, 214, 196]

    var style: Style
    /// Whether the region attention is printed as numbers too.
    var numbers: Bool

    /// The style for standard output: colour only on a terminal that wants it.
    static func standardOutputStyle(environment: [String: String] = ProcessInfo.processInfo.environment) -> Style {
        guard isatty(STDOUT_FILENO) == 1, environment["NO_COLOR"] == nil, environment["TERM"] != "dumb" else {
            return .plain
        }
        return .color
    }

    /// The report of one explained result.
    /// - Parameters:
    ///   - result: The scored image with its explanation.
    ///   - query: The (normalised) query.
    ///   - version: The model version that computed it.
    /// - Returns: Lines joined by newlines, without a trailing newline.
    func render(_ result: ScoringResult.Item, query: String, version: Int64) -> String {
        var lines = [
            "model version \(version), query \"\(TerminalText.escaped(query))\", "
                + "image \(TerminalText.escaped(result.image))",
            "score      \(Self.number(result.score))",
            "β          visual \(Self.number(result.visualWeight))   language \(Self.number(result.languageWeight))",
        ]
        guard let explanation = result.explanation else { return lines.joined(separator: "\n") }
        if Set(explanation.mixingWeights.keys) != ["visual", "language"] {
            // The architecture mixes other branches (AMS: its scales): heaviest first, ties by name.
            let weights = explanation.mixingWeights.sorted {
                $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key)
            }
            let named = weights.map { "\(TerminalText.escaped($0.key)) \(Self.number($0.value))" }
            lines.append("mixing     " + named.joined(separator: "   "))
        }
        let listed = explanation.keywordAttention.count
        if listed == 0 {
            lines.append("keywords   none attended")
        } else {
            let of = listed < explanation.keywordCount ? "top \(listed) of \(explanation.keywordCount)" : "\(listed)"
            lines.append("keywords   λ, \(of):")
            for item in explanation.keywordAttention {
                lines.append("  \(Self.number(item.weight))  \(TerminalText.escaped(item.keyword))")
            }
        }
        if let regions = explanation.regionAttention {
            lines += heatMap(regions)
        } else {
            lines.append("regions    none attended")
        }
        return lines.joined(separator: "\n")
    }

    /// The region attention as rows of shaded cells, scaled so the heaviest cell is darkest, then as numbers when
    /// asked.
    func heatMap(_ regions: ExplanationBody.RegionAttention) -> [String] {
        let top = regions.weights.max() ?? 0
        var lines = [
            "regions    α, \(regions.rows) × \(regions.columns), shaded relative to the largest, "
                + "\(String(repeating: Self.shades[4], count: 2)) = \(Self.number(top)):"
        ]
        for row in 0..<regions.rows {
            let cells = regions.weights[(row * regions.columns)..<((row + 1) * regions.columns)]
            lines.append("  " + cells.map { cell(level: Self.level($0, top: top)) }.joined())
        }
        if numbers {
            for row in 0..<regions.rows {
                let cells = regions.weights[(row * regions.columns)..<((row + 1) * regions.columns)]
                lines.append("  " + cells.map { Self.number($0) }.joined(separator: " "))
            }
        }
        return lines
    }

    /// The heat level (0…4) of a weight relative to the largest: `round(4 · weight / largest)`.
    static func level(_ weight: Float, top: Float) -> Int {
        guard top > 0, weight > 0 else { return 0 }
        return min(4, Int((weight / top * 4).rounded()))
    }

    private func cell(level: Int) -> String {
        let glyphs = String(repeating: Self.shades[level], count: 2)
        switch style {
        case .plain: return glyphs
        case .color: return "\u{1B}[38;5;\(Self.colors[level])m" + glyphs + "\u{1B}[0m"
        }
    }

    /// A weight or score with four decimals.
    static func number(_ value: Float) -> String {
        String(format: "%.4f", Double(value))
    }
}
