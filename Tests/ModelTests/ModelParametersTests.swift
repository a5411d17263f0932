import Model
import Testing

@Suite struct ModelParametersTests {
    private let small = smallConfiguration(margin: 0.3)

    @Test func amcWeightsRoundTripThroughParametersBitExactly() throws {
        let weights = AMCWeights(configuration: small, seed: 7)
        let parameters = weights.parameters
        #expect(parameters.architecture == "amc")
        #expect(parameters.tensors.map(\.name) == AMCTensor.allCases.map(\.rawValue))
        #expect(parameters["M_v"]?.rows == 4 && parameters["M_v"]?.columns == 16)
        #expect(parameters.hyperParameters["H"] == 64 && parameters.hyperParameters["margin"] == Double(Float(0.3)))
        #expect(try AMCWeights(parameters: parameters) == weights)
    }

    @Test func mismatchedParametersAreRefused() {
        var parameters = AMCWeights(configuration: small, seed: 7).parameters
        parameters.tensors[3].rows += 1
        parameters.tensors[3].values.append(0)
        #expect(throws: ModelError.self) { try AMCWeights(parameters: parameters) }
        var other = AMCWeights(configuration: small, seed: 7).parameters
        other.architecture = "late_fusion"
        #expect(throws: ModelError.self) { try AMCWeights(parameters: other) }
        var missing = AMCWeights(configuration: small, seed: 7).parameters
        missing.hyperParameters["d"] = nil
        #expect(throws: ModelError.self) { try AMCWeights(parameters: missing) }
    }

    @Test func theOnlinePartIsTheModalityAttentionNetwork() {
        #expect(AMCWeights.onlineTensorNames == ["M_v", "c_v", "m_v", "M_k", "c_k", "m_k"])
    }
}
