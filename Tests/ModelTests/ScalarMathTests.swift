import Testing

@testable import Model

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct ScalarMathTests {
    /// The module's own exp/tanh (platform independent) agree with libm to Float precision.
    @Test func expAndTanhMatchLibm() {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<10_000 {
            let x = rng.nextSymmetric(30)
            let e = x.expValue
            #expect(abs(e - Float(exp(Double(x)))) <= 2 * Float(exp(Double(x))).ulp, "exp(\(x))")
            #expect(abs(x.tanhValue - Float(tanh(Double(x)))) <= 3e-7, "tanh(\(x))")
        }
        #expect(Float(0).tanhValue == 0)
        #expect(Float(1e-6).tanhValue == 1e-6)
        #expect(Float(50).tanhValue == 1 && Float(-50).tanhValue == -1)
        #expect(Float(0).expValue == 1)
    }
}
