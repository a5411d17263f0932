import Foundation

/// Samples ranks 0..<n with probability ∝ 1/(rank+1)^s.
struct ZipfSampler {
    private let cumulative: [Double]

    init(count: Int, exponent: Double) {
        var running = 0.0
        var cumulative = [Double]()
        cumulative.reserveCapacity(count)
        for rank in 0..<count {
            running += 1 / pow(Double(rank + 1), exponent)
            cumulative.append(running)
        }
        self.cumulative = cumulative.map { $0 / running }
    }

    func sample(_ generator: inout some RandomNumberGenerator) -> Int {
        let u = Double.random(in: 0..<1, using: &generator)
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < u { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
