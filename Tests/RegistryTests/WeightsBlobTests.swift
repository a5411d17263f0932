import Model
import Registry
import Testing

@Suite struct WeightsBlobTests {
    @Test func roundTripIsBitExact() throws {
        var c = smallConfiguration()
        c.margin = 0.3
        var weights = AMCWeights(configuration: c, seed: 21)
        weights.bq[0] = -0.0
        weights.cv[1] = .leastNonzeroMagnitude
        let blob = weights.serialized()
        let decoded = try AMCWeights(blob: blob)
        #expect(decoded.configuration == c)
        for tensor in AMCTensor.allCases {
            #expect(decoded[tensor].map(\.bitPattern) == weights[tensor].map(\.bitPattern), "\(tensor.rawValue)")
        }
        #expect(decoded.serialized() == blob)
    }

    @Test func headerIsLittleEndianAndVersioned() {
        let blob = AMCWeights(zerosFor: smallConfiguration()).serialized()
        #expect(Array(blob[0..<4]) == Array("AMCW".utf8))
        #expect(Array(blob[4..<8]) == [1, 0, 0, 0])
        #expect(Array(blob[8..<12]) == [64, 0, 0, 0])
        #expect(Array(blob[32..<36]) == [18, 0, 0, 0])
    }

    @Test func corruptBlobsAreRejected() {
        let blob = AMCWeights(configuration: smallConfiguration(), seed: 1).serialized()
        #expect(throws: ModelError.self) { try AMCWeights(blob: Array(blob.dropLast())) }
        #expect(throws: ModelError.self) { try AMCWeights(blob: blob + [0]) }
        var wrongVersion = blob
        wrongVersion[4] = 2
        #expect { try AMCWeights(blob: wrongVersion) } throws: { ($0 as? ModelError)?.code == .unsupportedVersion }
        var wrongMagic = blob
        wrongMagic[0] = 0
        #expect { try AMCWeights(blob: wrongMagic) } throws: { ($0 as? ModelError)?.code == .badMagic }
    }
}
