import Foundation
import Model
import Testing

@testable import AMCBench

/// The per-architecture NumPy reference of `amc bench score`: the folder it reads, its runner against the Swift
/// scorers, and the cross-check that must fail loudly.
@Suite(.timeLimit(.minutes(5)))
struct ModelReferenceTests {
    /// `Benchmarks/` of this checkout.
    static let benchmarks = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Benchmarks")
    static let runner = benchmarks.appendingPathComponent("reference_score_model.py").path
    static let python = "python3"

    /// A small catalog: 40 images of 4 topics, R = 3 regions of D = 32, 2–10 keywords; 12 queries of 6 candidates.
    static let workload = ScoreWorkload(
        images: 40,
        regions: 3,
        dimension: ModelConfiguration().regionDimension,
        keywords: 6,
        candidates: 6,
        queries: 12,
        seed: 11
    )

    @Test func theManifestAndTheFilesDescribeTheParametersTheCatalogAndTheQueries() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let parameters = try LateFusionModel.initialParameters(
            seed: 3,
            hyperParameters: ["H": 257, "d": 8, "D": Double(ModelConfiguration().regionDimension)]
        )
        let model = try LateFusionModel(parameters: parameters)
        let workload = Self.workload
        try ModelReference.write(to: folder, model: model, workload: workload)

        let manifest = try JSONDecoder().decode(
            ModelReference.Manifest.self,
            from: Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        )
        #expect(
            manifest
                == ModelReference.Manifest(
                    format: 1,
                    architecture: "late_fusion",
                    hyperParameters: parameters.hyperParameters,
                    tensors: [
                        .init(name: "E_q", rows: 257, columns: 8), .init(name: "b_q", rows: 8, columns: 1),
                        .init(name: "E_k", rows: 257, columns: 8), .init(name: "b_k", rows: 8, columns: 1),
                        .init(name: "W_v", rows: 8, columns: 32), .init(name: "b_v", rows: 8, columns: 1),
                        .init(name: "G", rows: 2, columns: 8), .init(name: "g", rows: 2, columns: 1),
                    ],
                    images: 40,
                    regions: 3,
                    regionDimension: 32,
                    hashBuckets: 257,
                    queries: 12,
                    candidates: 6
                )
        )
        // The keys the Python runner reads.
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("manifest.json")))
                as? [String: Any]
        )
        #expect(
            Set(json.keys)
                == [
                    "format", "architecture", "hyper_parameters", "tensors", "images", "regions", "region_dimension",
                    "hash_buckets", "queries", "candidates",
                ]
        )

        for tensor in parameters.tensors {
            let stored = try NumPyReference.readFloats(folder.appendingPathComponent("weights/\(tensor.name).f32"))
            #expect(stored == tensor.values, "\(tensor.name)")
        }
        let regions = try NumPyReference.readFloats(folder.appendingPathComponent("image_regions.f32"))
        #expect(regions == workload.imageFeatures(buckets: 257).flatMap(\.regions))
        #expect(try ints("candidates.i32", in: folder) == workload.inProcess.flatMap { $0.candidates.map(Int32.init) })

        // Word bags: each word of the normalised query hashed on its own, in word order.
        let queryWords = try ints("query_words.i32", in: folder)
        let wordEntries = try ints("word_entries.i32", in: folder)
        let wordIndices = try ints("word_indices.i32", in: folder)
        let wordCounts = try NumPyReference.readFloats(folder.appendingPathComponent("word_counts.f32"))
        #expect(queryWords.count == 13)
        for (query, text) in workload.normalizedQueries.enumerated() {
            let expected = QueryInput(text, buckets: 257).wordBags
            #expect(expected.count >= 2)
            let words = Int(queryWords[query])..<Int(queryWords[query + 1])
            let bags = words.map { word in
                let range = Int(wordEntries[word])..<Int(wordEntries[word + 1])
                return SparseVector(indices: Array(wordIndices[range]), counts: Array(wordCounts[range]))
            }
            #expect(bags == expected, "query \(query): \(text)")
        }
        // Whole-query bags, as today's AMC reference reads them.
        let queryEntries = try ints("query_entries.i32", in: folder)
        let queryIndices = try ints("query_indices.i32", in: folder)
        let first = LetterTrigramHasher.encode(workload.normalizedQueries[0], buckets: 257)
        #expect(Array(queryIndices[Int(queryEntries[0])..<Int(queryEntries[1])]) == first.indices)
    }

    /// Every architecture of the model's table has a NumPy reference module, and the runner's scores agree with
    /// the Swift scorer's within 1e-4 (late fusion's module is this project's; AMC's wraps reference_score.py).
    @Test(arguments: ModelArchitectures.ids)
    func theReferenceOfEachArchitectureAgreesWithTheSwiftScorer(architecture: String) throws {
        try #require(
            NumPyReference.isAvailable(python: Self.python),
            "NumPy is missing for \(Self.python): install python3-numpy (bash Deploy/local/install-deps.sh)"
        )
        try ModelReference.checkModules(runner: Self.runner, architectures: [architecture])
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let workload = Self.workload
        let model = try ModelArchitectures.model(
            from: try BenchScore.benchParameters(architecture: architecture, workload: workload, seed: 5)
        )
        let ours = workload.exactScores(model)
        try ModelReference.write(to: folder, model: model, workload: workload)
        let result = try ModelReference.run(
            Self.runner,
            python: Self.python,
            directory: folder,
            architecture: architecture
        )
        #expect(result.latency.count == 12)
        #expect(result.versions.hasPrefix("numpy="))
        let difference = try ModelReference.check(
            ours: ours,
            theirs: result.scores,
            candidates: 6,
            architecture: architecture
        )
        #expect(difference <= 1e-4)
        // Not degenerate: the candidates' scores differ.
        #expect(Set(ours).count > ours.count / 2)
    }

    @Test func aScoreThatDisagreesFailsNamingTheArchitectureTheQueryAndTheCandidate() throws {
        let ours: [Float] = [0.5, 0.25, -0.1, 0.3, 0.7, 0.2]
        #expect(try ModelReference.check(ours: ours, theirs: ours, candidates: 3, architecture: "late_fusion") == 0)
        var theirs = ours
        theirs[5] += 0.001
        let error = try #require(throws: (any Error).self) {
            try ModelReference.check(ours: ours, theirs: theirs, candidates: 3, architecture: "late_fusion")
        }
        #expect("\(error)".hasPrefix("late_fusion: the Swift scorer and its NumPy reference disagree"))
        #expect("\(error)".contains("query 2, candidate 3: 0.2 vs 0.201"))
        theirs = ours
        theirs[1] = .nan
        #expect(throws: (any Error).self) {
            try ModelReference.check(ours: ours, theirs: theirs, candidates: 3, architecture: "late_fusion")
        }
        #expect(throws: (any Error).self) {
            try ModelReference.check(ours: ours, theirs: Array(ours.dropLast()), candidates: 3, architecture: "amc")
        }
    }

    /// A module whose forward pass differs from the Swift scorer's (here by 1e-3 per score) fails the cross-check.
    @Test func aReferenceModuleThatComputesSomethingElseFailsTheCrossCheck() throws {
        try #require(NumPyReference.isAvailable(python: Self.python), "NumPy is missing for \(Self.python)")
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let runner = try copyOfTheRunner(in: folder)
        try """
        import importlib.util
        spec = importlib.util.spec_from_file_location("real", \(pythonString(Self.benchmarks.path + "/reference_models/late_fusion.py")))
        real = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(real)
        encode_images = real.encode_images
        def score(w, hp, cache, query_words, candidates):
            return real.score(w, hp, cache, query_words, candidates) + 1e-3
        """.write(
            to: folder.appendingPathComponent("reference_models/late_fusion.py"),
            atomically: true,
            encoding: .utf8
        )
        let data = folder.appendingPathComponent("data")
        let workload = Self.workload
        let model = try ModelArchitectures.model(
            from: try BenchScore.benchParameters(architecture: "late_fusion", workload: workload, seed: 5)
        )
        try ModelReference.write(to: data, model: model, workload: workload)
        let result = try ModelReference.run(runner, python: Self.python, directory: data, architecture: "late_fusion")
        let error = try #require(throws: (any Error).self) {
            try ModelReference.check(
                ours: workload.exactScores(model),
                theirs: result.scores,
                candidates: 6,
                architecture: "late_fusion"
            )
        }
        #expect("\(error)".hasPrefix("late_fusion: the Swift scorer and its NumPy reference disagree: query "))
    }

    @Test func aMissingModuleIsNamedBeforeAnythingRuns() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let runner = try copyOfTheRunner(in: folder)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("reference_models/late_fusion.py"))
        let error = try #require(throws: (any Error).self) {
            try ModelReference.checkModules(runner: runner, architectures: ["amc", "late_fusion"])
        }
        #expect("\(error)".contains("architecture late_fusion has no NumPy reference"))
        #expect("\(error)".contains(folder.path + "/reference_models/late_fusion.py is missing"))
        #expect(throws: (any Error).self) {
            try ModelReference.checkModules(runner: folder.path + "/absent.py", architectures: [])
        }
        // The repository's runner has a module for every architecture of the model's table.
        try ModelReference.checkModules(runner: Self.runner, architectures: ModelArchitectures.ids)
    }

    // MARK: - Helpers

    /// The runner and the repository's modules, copied into `folder`; returns the runner's path.
    private func copyOfTheRunner(in folder: URL) throws -> String {
        let runner = folder.appendingPathComponent("reference_score_model.py")
        try FileManager.default.copyItem(atPath: Self.runner, toPath: runner.path)
        try FileManager.default.copyItem(
            at: Self.benchmarks.appendingPathComponent("reference_models"),
            to: folder.appendingPathComponent("reference_models")
        )
        return runner.path
    }

    private func ints(_ name: String, in folder: URL) throws -> [Int32] {
        let data = try Data(contentsOf: folder.appendingPathComponent(name))
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map {
                Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))
            }
        }
    }

    private func pythonString(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    private func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-model-ref-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }
}
