import Foundation
import Testing

@testable import Model

/// The NumPy reference of CASC (`Benchmarks/reference_models/casc.py`) computes the Swift scorer's scores.
@Suite struct CASCNumPyReferenceTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// A tiny model (its gate, temperatures and mix moved off their start) and catalog, including images without
    /// keywords, without regions and without either, scored for several queries (one empty) by both; the scores
    /// agree to 1e-4. Fails (never skips) when Python or NumPy is missing.
    @Test func referenceScoresMatchTheSwiftScorer() throws {
        let model = try CASCModelTests.model(seed: 13)
        var rng = SplitMix64(seed: 14)
        let c = smallConfiguration()
        let images = [
            makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki", "baby", "beach"]),
            makeImage(&rng, configuration: c, regionCount: 9, keywords: ["red car"]),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: ["kitten", "snow", "cat"]),
            makeImage(&rng, configuration: c, regionCount: 3, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki baby bump", "dog"]),
        ]
        let queries = ["snooki baby bump", "red car", "kitten", "", "baby baby"]
        let candidates = [5, 0, 1, 2, 3, 4, 0]

        func bag(_ vector: SparseVector) -> [String: Any] {
            ["indices": vector.indices.map(Int.init), "counts": vector.counts.map(Double.init)]
        }
        let input: [String: Any] = [
            "hyper_parameters": model.parameters.hyperParameters,
            "tensors": model.parameters.tensors.map {
                ["name": $0.name, "rows": $0.rows, "columns": $0.columns, "values": $0.values.map(Double.init)]
            },
            "images": images.map {
                [
                    "regions": $0.regions.map(Double.init), "region_count": $0.regionCount,
                    "keywords": $0.keywords.map(bag),
                ]
            },
            "queries": queries.map { QueryInput($0, buckets: 64).wordBags.map(bag) },
            "candidates": candidates,
        ]
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "casc-reference-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("input.json")
        try JSONSerialization.data(withJSONObject: input).write(to: file)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            Self.repositoryRoot.appendingPathComponent("Benchmarks/reference_models/check_casc.py").path, file.path,
        ]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(
            process.terminationStatus == 0,
            "the NumPy reference failed (is python3-numpy installed?): \(stderr)"
        )
        let result = try #require(try JSONSerialization.jsonObject(with: stdout) as? [String: Any])
        let reference = try #require(result["scores"] as? [[Double]])
        #expect(reference.count == queries.count)

        let encoded = model.encodeImages(images)
        for (text, expected) in zip(queries, reference) {
            let scored = model.score(query: model.encodeQuery(text), encodedImages: candidates.map { encoded[$0] })
            #expect(expected.count == candidates.count)
            for (swift, numpy) in zip(scored.map(\.score), expected) {
                #expect(abs(Double(swift) - numpy) <= 1e-4, "\(text): swift \(swift), numpy \(numpy)")
            }
        }
        #expect(reference[3].allSatisfy { $0 == 0 }, "an empty query scores 0")
    }
}
