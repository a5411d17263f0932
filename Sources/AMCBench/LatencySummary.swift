/// Nearest-rank percentiles of latencies in milliseconds.
struct LatencySummary: Sendable, Equatable {
    var p50 = 0.0
    var p99 = 0.0
    var max = 0.0
    var count = 0

    init(p50: Double = 0, p99: Double = 0, max: Double = 0, count: Int = 0) {
        self.p50 = p50
        self.p99 = p99
        self.max = max
        self.count = count
    }

    init(_ milliseconds: [Double]) {
        let sorted = milliseconds.sorted()
        guard !sorted.isEmpty else {
            self.init()
            return
        }
        func rank(_ p: Double) -> Double {
            sorted[Swift.max(0, Swift.min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
        }
        self.init(p50: rank(0.5), p99: rank(0.99), max: sorted[sorted.count - 1], count: sorted.count)
    }
}
