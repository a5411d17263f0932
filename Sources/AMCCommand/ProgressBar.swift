import CommandSupport
import Foundation

/// A one-line progress bar on stderr, drawn only when stderr is a terminal, at most 10 times a second.
struct ProgressBar {
    private let label: String
    private let total: Int?
    private let enabled = isatty(STDERR_FILENO) == 1
    private let started = ContinuousClock.now
    private var lastDraw = ContinuousClock.now - .seconds(1)

    init(label: String, total: Int?) {
        self.label = label
        self.total = total
    }

    mutating func update(done: Int, unit: String = "msgs") {
        guard enabled, ContinuousClock.now - lastDraw >= .milliseconds(100) else { return }
        lastDraw = .now
        draw(done: done, unit: unit)
    }

    func finish(done: Int, unit: String = "msgs") {
        guard enabled else { return }
        draw(done: done, unit: unit)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(done: Int, unit: String) {
        let elapsed = max((ContinuousClock.now - started).seconds, 0.001)
        let rate = Int(Double(done) / elapsed)
        var line = "\r\(label) "
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
            line += "\(Int(fraction * 100))% "
        }
        line += "\(done) \(unit) \(rate)/s"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
