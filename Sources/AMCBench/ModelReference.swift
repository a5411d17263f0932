import ClickLog
import CommandSupport
import Foundation
import Model

/// The NumPy reference of any architecture's forward pass: `Benchmarks/reference_score_model.py` runs the module
/// `reference_models/<architecture id>.py` beside it on a folder `amc bench score` writes (a manifest, the tensors,
/// the catalog, the queries as whole-query and per-word trigram bags, the candidates), times per-query scoring and
/// sorting as `Benchmarks/reference_score.py` does, and writes every score for the cross-check.
enum ModelReference {
    /// The data folder's format version, in ``Manifest/format``.
    static let format = 1

    /// `manifest.json`: what the folder holds and the shapes of its files.
    struct Manifest: Codable, Equatable {
        /// One tensor of the parameters: `weights/<name>.f32`, `rows × columns` row-major (vectors have 1 column).
        struct Tensor: Codable, Equatable {
            var name: String
            var rows: Int
            var columns: Int
        }

        /// ``ModelReference/format``.
        var format: Int
        /// The architecture id (``ScoringModel/architecture``).
        var architecture: String
        /// The parameters' hyper-parameters by name.
        var hyperParameters: [String: Double]
        /// The tensors, in the architecture's order.
        var tensors: [Tensor]
        /// Images in the catalog.
        var images: Int
        /// Region cells per image (R).
        var regions: Int
        /// The region feature dimension (D).
        var regionDimension: Int
        /// The trigram bucket count (H) the bags were hashed with.
        var hashBuckets: Int
        /// Timed queries.
        var queries: Int
        /// Candidates per query.
        var candidates: Int

        enum CodingKeys: String, CodingKey {
            case format, architecture, tensors, images, regions, queries, candidates
            case hyperParameters = "hyper_parameters"
            case regionDimension = "region_dimension"
            case hashBuckets = "hash_buckets"
        }
    }

    /// What a run measured.
    struct Result {
        var latency: LatencySummary
        /// `numpy=<v> python=<v>`.
        var versions: String
        /// Every score, queries × candidates in candidate order.
        var scores: [Float]
    }

    /// The module a runner imports for an architecture: `reference_models/<id>.py` in the runner's folder.
    /// - Parameters:
    ///   - runner: The path of `reference_score_model.py`.
    ///   - architecture: An architecture id.
    static func modulePath(runner: String, architecture: String) -> String {
        URL(fileURLWithPath: runner).deletingLastPathComponent().appendingPathComponent("reference_models")
            .appendingPathComponent("\(architecture).py").relativePath
    }

    /// Checks that the runner and a module for every architecture exist, before anything is measured.
    /// - Throws: ``CommandError`` naming the first missing file.
    static func checkModules(runner: String, architectures: [String]) throws {
        guard FileManager.default.fileExists(atPath: runner) else {
            throw CommandError(
                "the architectures' reference runner \(runner) not found (run from the repository root, pass --model-reference, or --skip-reference)"
            )
        }
        for architecture in architectures {
            let module = modulePath(runner: runner, architecture: architecture)
            guard FileManager.default.fileExists(atPath: module) else {
                throw CommandError(
                    "architecture \(architecture) has no NumPy reference: \(module) is missing (every architecture of the model's table needs one; see Docs/benchmarks.md)"
                )
            }
        }
    }

    /// Writes the folder the runner reads for `model` (its parameters, the catalog, the queries and candidates).
    ///
    /// Layout (raw little-endian, `numpy.fromfile`): `manifest.json`; `weights/<name>.f32` per tensor; the files of
    /// ``ScoreWorkload/writeCatalog(to:buckets:)`` (regions, keyword bags, whole-query bags, candidates); and the
    /// query words: `query_words.i32` (queries + 1 offsets into the word list), `word_entries.i32` (words + 1
    /// offsets into the word trigram entries), `word_indices.i32`, `word_counts.f32` — each word of the normalised
    /// query hashed on its own, as ``QueryInput/wordBags``.
    /// - Parameters:
    ///   - directory: The folder (created if needed).
    ///   - model: The model scored.
    ///   - workload: The catalog, queries and candidates.
    /// - Returns: The manifest written.
    @discardableResult
    static func write(to directory: URL, model: any ScoringModel, workload: ScoreWorkload) throws -> Manifest {
        let parameters = model.parameters
        let weights = directory.appendingPathComponent("weights")
        try FileManager.default.createDirectory(at: weights, withIntermediateDirectories: true)
        for tensor in parameters.tensors {
            guard !tensor.name.isEmpty, tensor.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw CommandError("tensor name \"\(tensor.name)\" is not usable as a file name")
            }
            try NumPyReference.write(tensor.values, to: weights.appendingPathComponent("\(tensor.name).f32"))
        }
        try workload.writeCatalog(to: directory, buckets: model.hashBuckets)
        var queryWords: [Int32] = [0]
        var wordEntries: [Int32] = [0]
        var wordIndices: [Int32] = []
        var wordCounts: [Float] = []
        for query in workload.normalizedQueries {
            for bag in QueryInput(query, buckets: model.hashBuckets).wordBags {
                wordIndices += bag.indices
                wordCounts += bag.counts
                wordEntries.append(Int32(wordIndices.count))
            }
            queryWords.append(Int32(wordEntries.count - 1))
        }
        try NumPyReference.write(queryWords, to: directory.appendingPathComponent("query_words.i32"))
        try NumPyReference.write(wordEntries, to: directory.appendingPathComponent("word_entries.i32"))
        try NumPyReference.write(wordIndices, to: directory.appendingPathComponent("word_indices.i32"))
        try NumPyReference.write(wordCounts, to: directory.appendingPathComponent("word_counts.f32"))
        let manifest = Manifest(
            format: format,
            architecture: model.architecture,
            hyperParameters: parameters.hyperParameters,
            tensors: parameters.tensors.map { Manifest.Tensor(name: $0.name, rows: $0.rows, columns: $0.columns) },
            images: workload.images.count,
            regions: workload.regionCount,
            regionDimension: model.regionDimension,
            hashBuckets: model.hashBuckets,
            queries: workload.inProcess.count,
            candidates: workload.candidatesPerQuery
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(manifest).write(to: directory.appendingPathComponent("manifest.json"))
        return manifest
    }

    /// Runs the runner on a written folder and reads its figures and scores.
    /// - Throws: ``CommandError`` when it fails (quoting its standard error) or prints no figures.
    static func run(_ runner: String, python: String, directory: URL, architecture: String) throws -> Result {
        let lines = try NumPyReference.run(
            runner,
            python: python,
            arguments: [directory.path, "--architecture", architecture],
            context: architecture
        )
        let (latency, versions) = NumPyReference.scoringFigures(lines)
        guard let latency else {
            throw CommandError("the NumPy reference of \(architecture) printed no REFERENCE line")
        }
        let scores = try NumPyReference.readFloats(directory.appendingPathComponent("scores.f32"))
        return Result(latency: latency, versions: versions, scores: scores)
    }

    /// The largest absolute difference between `ours` and `theirs`.
    /// - Throws: ``CommandError`` naming the architecture when the counts differ or a difference exceeds
    ///   `tolerance` (or is NaN), with the query, the candidate and both scores.
    static func check(
        ours: [Float],
        theirs: [Float],
        candidates: Int,
        architecture: String,
        tolerance: Float = 1e-4
    ) throws -> Float {
        guard theirs.count == ours.count else {
            throw CommandError(
                "\(architecture): the NumPy reference wrote \(theirs.count) scores, expected \(ours.count)"
            )
        }
        var worst: Float = 0
        var worstAt = 0
        for i in ours.indices where !(abs(ours[i] - theirs[i]) <= worst) {
            worst = abs(ours[i] - theirs[i])
            worstAt = i
            if worst.isNaN { break }
        }
        guard worst <= tolerance else {
            throw CommandError(
                "\(architecture): the Swift scorer and its NumPy reference disagree: query \(worstAt / candidates + 1), candidate \(worstAt % candidates + 1): \(ours[worstAt]) vs \(theirs[worstAt])"
            )
        }
        return worst
    }
}
