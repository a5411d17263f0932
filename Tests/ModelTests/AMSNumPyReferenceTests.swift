import Foundation
import Testing

@testable import Model

/// The NumPy reference of the AMS forward pass (`Benchmarks/reference_models/ams.py`) scores a tiny catalog as the
/// Swift model does, to 1e-4.
@Suite struct AMSNumPyReferenceTests {
    /// The repository root (this file is `Tests/ModelTests/AMSNumPyReferenceTests.swift`).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @Test func numpyReferenceScoresLikeTheModel() throws {
        // A model away from its start: uneven scale weights and thresholds near the similarities.
        var parameters = try AMSModelTests.model(seed: 31).parameters
        var rng = SplitMix64(seed: 32)
        for index in parameters.tensors.indices where parameters.tensors[index].name.hasPrefix("b_") {
            for i in parameters.tensors[index].values.indices {
                parameters.tensors[index].values[i] = rng.nextSymmetric(0.3)
            }
        }
        let model = try AMSModel(parameters: parameters)
        let c = smallConfiguration()
        let images = [
            makeImage(&rng, configuration: c, regionCount: 9, keywords: ["snooki", "baby", "beach"]),
            makeImage(&rng, configuration: c, regionCount: 4, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: ["red car", "bump"]),
            makeImage(&rng, configuration: c, regionCount: 3, keywords: ["kitten"]),
            makeImage(&rng, configuration: c, regionCount: 16, keywords: ["snow", "kitten", "sofa", "cat"]),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: []),
        ]
        let queries: [(text: String, candidates: [Int])] = [
            ("snooki baby bump", [0, 1, 2, 3, 4, 5]),
            ("red car", [4, 2, 0]),
            ("kitten", [3, 3, 1]),
            ("", [0, 2]),
        ]
        let encoded = model.encodeImages(images)
        var expected: [[Float]] = []
        for query in queries {
            let scored = model.score(
                query: model.encodeQuery(query.text),
                encodedImages: query.candidates.map { encoded[$0] }
            )
            expected.append(scored.map(\.score))
        }

        // The case file (floats printed in their shortest round-tripping form).
        func floats(_ values: [Float]) -> String { "[" + values.map { "\($0)" }.joined(separator: ",") + "]" }
        func bag(_ bag: SparseVector) -> String {
            "{\"indices\":[\(bag.indices.map(String.init).joined(separator: ","))],\"counts\":\(floats(bag.counts))}"
        }
        let tensors = parameters.tensors.map {
            "\"\($0.name)\":{\"rows\":\($0.rows),\"columns\":\($0.columns),\"values\":\(floats($0.values))}"
        }
        let hyper = parameters.hyperParameters.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }
        let imageEntries = images.map {
            "{\"regions\":\(floats($0.regions)),\"region_count\":\($0.regionCount),"
                + "\"keywords\":[\($0.keywords.map(bag).joined(separator: ","))]}"
        }
        let queryEntries = queries.map { query in
            let words = QueryInput(query.text, buckets: model.hashBuckets).wordBags.map(bag)
            return "{\"words\":[\(words.joined(separator: ","))],\"candidates\":\(query.candidates)}"
        }
        let json =
            "{\"hyper_parameters\":{\(hyper.joined(separator: ","))},\"tensors\":{\(tensors.joined(separator: ","))},"
            + "\"images\":[\(imageEntries.joined(separator: ","))],\"queries\":[\(queryEntries.joined(separator: ","))]}"
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ams-reference-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let caseFile = folder.appendingPathComponent("case.json")
        try json.write(to: caseFile, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            Self.repositoryRoot.appendingPathComponent("Benchmarks/reference_models/check_ams.py").path,
            caseFile.path,
        ]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let message = String(decoding: stderr, as: UTF8.self)
        try #require(
            process.terminationStatus == 0,
            "the NumPy reference failed (status \(process.terminationStatus)): \(message)"
        )
        let lines = String(decoding: stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .prefix(queries.count)
        #expect(lines.count == queries.count)
        for (line, scores) in zip(lines, expected) {
            let reference = line.split(separator: " ").compactMap { Double($0) }
            #expect(reference.count == scores.count, "\(line)")
            for (numpy, swift) in zip(reference, scores) {
                #expect(abs(numpy - Double(swift)) <= 1e-4, "NumPy \(numpy), Swift \(swift)")
            }
        }
        #expect(expected[3].allSatisfy { $0 == 0 })
        #expect(expected[0].contains { $0 != 0 })
    }
}
