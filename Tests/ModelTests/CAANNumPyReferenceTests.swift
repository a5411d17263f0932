import Foundation
import Testing

@testable import Model

/// The NumPy reference of CAAN's forward pass (`Benchmarks/reference_models/caan.py`, which the score benchmark
/// imports) computes the Swift model's scores.
@Suite struct CAANNumPyReferenceTests {
    @Test func numpyReferenceScoresLikeTheModel() throws {
        let model = try CAANModelTests.model(seed: 31)
        var rng = SplitMix64(seed: 32)
        let c = smallConfiguration()
        let catalog = [
            makeImage(&rng, configuration: c, regionCount: 4, keywords: ["snooki", "baby", "beach"]),
            makeImage(&rng, configuration: c, regionCount: 4, keywords: ["red car", "road"]),
            makeImage(&rng, configuration: c, regionCount: 4, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: ["kitten", "snow", "cat", "sofa"]),
            makeImage(&rng, configuration: c, regionCount: 0, keywords: []),
            makeImage(&rng, configuration: c, regionCount: 2, keywords: ["baby"]),
        ]
        let queries = ["snooki baby bump", "kitten", "red car on the road", ""]
        let candidates = [5, 0, 3, 1, 4, 2, 0]

        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("Benchmarks/reference_models/caan_check.py")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "caan-reference-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("input.json")
        try Self.json(model: model, catalog: catalog, queries: queries, candidates: candidates)
            .write(to: input, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script.path, input.path]
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
            "the NumPy reference failed (exit \(process.terminationStatus)): \(stderr)"
        )
        let decoded = try #require(try JSONSerialization.jsonObject(with: stdout) as? [String: Any])
        let reference = try #require(decoded["scores"] as? [[Double]])
        try #require(reference.count == queries.count)

        let encoded = model.encodeImages(catalog)
        for (text, expected) in zip(queries, reference) {
            let scores = model.score(query: model.encodeQuery(text), encodedImages: candidates.map { encoded[$0] })
            #expect(expected.count == candidates.count)
            for (scored, value) in zip(scores, expected) {
                #expect(abs(Double(scored.score) - value) < 1e-4, "\(text): \(scored.score) vs NumPy \(value)")
            }
            if text.isEmpty { #expect(expected.allSatisfy { $0 == 0 }) }
        }
    }

    /// The check script's input: the model's tensors, the catalog's features and the queries' word bags, floats in
    /// their shortest round-trip form.
    static func json(model: CAANModel, catalog: [ImageFeatures], queries: [String], candidates: [Int]) -> String {
        func floats(_ values: [Float]) -> String { "[" + values.map { "\($0)" }.joined(separator: ",") + "]" }
        func bag(_ bag: SparseVector) -> String {
            "{\"indices\":[\(bag.indices.map(String.init).joined(separator: ","))],\"counts\":\(floats(bag.counts))}"
        }
        let parameters = model.parameters
        let hyper = parameters.hyperParameters.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }
        let tensors = parameters.tensors.map {
            "{\"name\":\"\($0.name)\",\"rows\":\($0.rows),\"columns\":\($0.columns),\"values\":\(floats($0.values))}"
        }
        let images = catalog.map { image in
            "{\"regions\":\(floats(image.regions)),\"region_count\":\(image.regionCount),"
                + "\"keywords\":[\(image.keywords.map(bag).joined(separator: ","))]}"
        }
        let words = queries.map { text in
            "[" + QueryInput(text, buckets: model.hashBuckets).wordBags.map(bag).joined(separator: ",") + "]"
        }
        return
            "{\"hyper_parameters\":{\(hyper.joined(separator: ","))},\"tensors\":[\(tensors.joined(separator: ","))],"
            + "\"images\":[\(images.joined(separator: ","))],\"queries\":[\(words.joined(separator: ","))],"
            + "\"candidates\":[\(candidates.map(String.init).joined(separator: ","))]}"
    }
}
