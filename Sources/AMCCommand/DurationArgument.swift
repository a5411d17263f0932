import Foundation

/// A duration written as a whole number and a unit: `90s`, `90m`, `12h`, `30d`, `2w` (`--before`, `--keep`).
enum DurationArgument {
    /// The duration in seconds, or nil when `text` is not one.
    static func seconds(_ text: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count >= 0 else {
            return nil
        }
        return Double(count) * unit
    }
}
