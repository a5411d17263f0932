import Model
import Testing

@testable import Registry

@Suite struct WeightsBlobTests {
    @Test func roundTripIsBitExact() throws {
        var c = smallConfiguration()
        c.margin = 0.3
        var weights = AMCWeights(configuration: c, seed: 21)
        weights.bq[0] = -0.0
        weights.cv[1] = .leastNonzeroMagnitude
        let blob = ModelBlob(parameters: weights.parameters).encoded()
        let decoded = try AMCWeights(parameters: ModelBlob(decoding: blob).parameters)
        #expect(decoded.configuration == c)
        for tensor in AMCTensor.allCases {
            #expect(decoded[tensor].map(\.bitPattern) == weights[tensor].map(\.bitPattern), "\(tensor.rawValue)")
        }
        #expect(ModelBlob(parameters: decoded.parameters).encoded() == blob)
    }

    @Test func headerIsLittleEndianAndVersioned() {
        let blob = ModelBlob(parameters: AMCWeights(zerosFor: smallConfiguration()).parameters).encoded()
        #expect(Array(blob[0..<4]) == Array("AMCW".utf8))
        #expect(Array(blob[4..<8]) == [2, 0, 0, 0])
        // The architecture id, then six hyper-parameters.
        #expect(Array(blob[8..<13]) == [3, 0] + Array("amc".utf8))
        #expect(Array(blob[13..<17]) == [6, 0, 0, 0])

        let format1 = ModelBlob.format1(AMCWeights(zerosFor: smallConfiguration()).parameters)
        #expect(Array(format1[0..<4]) == Array("AMCW".utf8))
        #expect(Array(format1[4..<8]) == [1, 0, 0, 0])
        #expect(Array(format1[8..<12]) == [64, 0, 0, 0])
        #expect(Array(format1[32..<36]) == [18, 0, 0, 0])
    }

    @Test func corruptBlobsAreRejected() {
        let blob = ModelBlob(parameters: AMCWeights(configuration: smallConfiguration(), seed: 1).parameters).encoded()
        #expect(throws: ModelError.self) { try ModelBlob(decoding: Array(blob.dropLast())) }
        #expect(throws: ModelError.self) { try ModelBlob(decoding: blob + [0]) }
        var wrongVersion = blob
        wrongVersion[4] = 3
        #expect { try ModelBlob(decoding: wrongVersion) } throws: { ($0 as? ModelError)?.code == .unsupportedVersion }
        var wrongMagic = blob
        wrongMagic[0] = 0
        #expect { try ModelBlob(decoding: wrongMagic) } throws: { ($0 as? ModelError)?.code == .badMagic }
    }

    @Test func formatOneBlobsDecodeToTheSameAMCParameters() throws {
        let weights = AMCWeights(configuration: smallConfiguration(margin: 0.3), seed: 5)
        let decoded = try ModelBlob(decoding: ModelBlob.format1(weights.parameters))
        #expect(decoded.isComplete)
        #expect(decoded.parameters == weights.parameters)
        #expect(try AMCWeights(parameters: decoded.parameters) == weights)
    }

    @Test func aFineTunePartHoldsOnlyItsTensorsAndItsParentsChecksumAndAppliesToTheParent() throws {
        let parent = AMCWeights(configuration: smallConfiguration(), seed: 7)
        var child = parent
        for tensor in AMCTensor.allCases where tensor.isModalityAttention {
            child.withTensor(tensor) { values in
                for i in values.indices { values[i] += 0.25 }
            }
        }
        var part = child.parameters
        part.tensors = part.tensors.filter { AMCWeights.onlineTensorNames.contains($0.name) }
        let parentSHA256 = BlobChecksum.hexDigest(of: ModelBlob(parameters: parent.parameters).encoded())
        let blob = ModelBlob(parameters: part, parentSHA256: parentSHA256).encoded()
        let full = ModelBlob(parameters: child.parameters).encoded()
        #expect(blob.count * 4 < full.count)

        let decoded = try ModelBlob(decoding: blob)
        #expect(decoded.parentSHA256 == parentSHA256)
        #expect(decoded.parameters.tensors.map(\.name) == AMCWeights.onlineTensorNames)
        #expect(try AMCWeights(parameters: decoded.applied(to: parent.parameters)) == child)

        // A part does not apply to parameters of other dimensions.
        var other = smallConfiguration()
        other.modalityDimension = 5
        #expect(throws: ModelError.self) {
            try decoded.applied(to: AMCWeights(configuration: other, seed: 7).parameters)
        }
    }
}
