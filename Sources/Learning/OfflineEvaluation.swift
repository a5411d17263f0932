import Catalog
import Evaluation
import Foundation
import Model
import Postgres
import Registry

/// One method's row in an evaluation table.
public struct EvaluationRow: Sendable, Codable, Hashable {
    /// The version's architecture (`amc`, `late_fusion`), `click_prior`, `keyword_only`, `image_only` or
    /// `late_fusion_fixed` (the fixed 0.5/0.5 mix of the two single-modality baselines).
    public var method: String
    /// Metrics over the labelled queries.
    public var metrics: RankingMetrics
    /// The model version the row evaluates (``OfflineEvaluator/compareArchitectures(labels:)`` only; nil for a
    /// baseline and in a plain evaluation).
    public var version: Int64? = nil
    /// Scoring cost in process: microseconds per candidate of encoding each labelled query and scoring its
    /// pre-encoded candidates (``ScoringCost``; comparison only, nil for a baseline).
    public var scoringMicrosecondsPerCandidate: Double? = nil
    /// Training speed of the version's bootstrap ancestor (every tensor): examples (a clicked pair with its sampled
    /// negatives) per second, from its training record (comparison only).
    public var bootstrapPairsPerSecond: Double? = nil
    /// Training speed of the nearest fine-tune in the version's lineage (the version itself or an ancestor; its
    /// online part only), nil when it has none (comparison only).
    public var fineTunePairsPerSecond: Double? = nil

    private enum CodingKeys: String, CodingKey {
        case method, metrics, version, scoringMicrosecondsPerCandidate, bootstrapPairsPerSecond,
            fineTunePairsPerSecond
    }

    /// Encodes the method and its metrics; a version's row in a comparison also every cost column, `null` when
    /// not measured, so machines find the same keys in every architecture's row.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(method, forKey: .method)
        try container.encode(metrics, forKey: .metrics)
        guard let version else { return }
        try container.encode(version, forKey: .version)
        try container.encode(scoringMicrosecondsPerCandidate, forKey: .scoringMicrosecondsPerCandidate)
        try container.encode(bootstrapPairsPerSecond, forKey: .bootstrapPairsPerSecond)
        try container.encode(fineTunePairsPerSecond, forKey: .fineTunePairsPerSecond)
    }
}

/// The result of `amc eval`: the model and every baseline on the same labelled queries, like the AMC paper's
/// tables.
public struct EvaluationReport: Sendable, Codable, Hashable {
    /// The model version evaluated.
    public var version: Int64
    /// Labelled queries in the file, and labelled images not in the catalog (they rank last for every method).
    public var labelledQueries: Int
    public var unknownImages: Int
    /// One row per method; the baselines' rows are missing when the version's lineage has none.
    public var rows: [EvaluationRow]

    /// Creates a report from all of its fields.
    public init(version: Int64, labelledQueries: Int, unknownImages: Int, rows: [EvaluationRow]) {
        self.version = version
        self.labelledQueries = labelledQueries
        self.unknownImages = unknownImages
        self.rows = rows
    }
}

/// Evaluates a registered version and the baselines against graded labels (`DevSetLabel.tsv` form).
///
/// Baselines, all on the same candidates: the click prior (most clicked for the query, then most clicked overall —
/// new uploads have no clicks, so their order is a deterministic shuffle), the keyword-only and image-only models
/// trained beside the version's bootstrap ancestor, and their fixed 0.5/0.5 late fusion (`late_fusion_fixed`, so
/// that `late_fusion` names only the learned architecture).
public struct OfflineEvaluator: Sendable {
    private let connection: PostgresConnection

    /// - Parameter connection: A connection to a migrated database.
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Evaluates `version` (the active one when nil) and the baselines on `labels`.
    /// - Parameter baselinesOf: The version whose lineage's baselines to compare with (default: `version`'s own), so
    ///   that a version bootstrapped without baselines (another architecture on the same pairs) is compared with the
    ///   baselines trained beside another.
    /// - Parameter encoding: How every model's candidate encodings are stored before scoring, as a scoring worker's
    ///   `serve.encoding` stores them (float32: exactly the raw features' scores).
    /// - Throws: ``LearnerError`` when there is no such (or no active) version.
    public func evaluate(
        labels: [JudgedQuery],
        version: Int64? = nil,
        baselinesOf: Int64? = nil,
        encoding: EncodingPrecision = .float32
    ) throws -> EvaluationReport {
        let scorers = try methodScorers(
            labels: labels,
            version: version,
            baselinesOf: baselinesOf,
            encoding: encoding
        )
        return EvaluationReport(
            version: scorers.version,
            labelledQueries: labels.count,
            unknownImages: scorers.unknownImages,
            rows: scorers.methods.map {
                EvaluationRow(method: $0.method, metrics: Evaluator.evaluate(labels, scores: $0.scores))
            }
        )
    }

    /// The active version, the latest version of every other architecture of ``ModelArchitectures/all`` that has one,
    /// and the active version's baselines on `labels`, one row each (`amc eval --all-architectures`). Each version's
    /// row carries its version, its in-process scoring cost (``ScoringCost``) and its lineage's training speeds.
    /// - Parameter labels: Judged queries.
    /// - Returns: The report of the active version, with the rows of the versions first (the active one, then the
    ///   others in table order), then the baselines.
    /// - Throws: ``LearnerError`` when no version is active.
    public func compareArchitectures(labels: [JudgedQuery]) throws -> EvaluationReport {
        let registry = ModelRegistry(connection: connection)
        guard let active = try registry.activeVersion(), let activeRecord = try registry.version(active) else {
            throw LearnerError("no active model version to evaluate: run amc learn --bootstrap")
        }
        let versions = try registry.versions()
        var compared = [activeRecord]
        for id in ModelArchitectures.ids where id != activeRecord.architecture {
            if let latest = versions.last(where: { $0.architecture == id }) { compared.append(latest) }
        }
        let byVersion = Dictionary(uniqueKeysWithValues: versions.map { ($0.version, $0) })
        var report = try evaluate(labels: labels, version: active)
        let baselines = report.rows.dropFirst()
        var rows: [EvaluationRow] = []
        let images = try CatalogStore(connection: connection).images(keys: Set(labels.flatMap(\.images)).sorted())
        for record in compared {
            var row =
                record.version == active
                ? report.rows[0]
                : try evaluate(labels: labels, version: record.version).rows[0]
            let model = try registry.model(of: record.version)
            row.version = record.version
            row.scoringMicrosecondsPerCandidate = ScoringCost.microsecondsPerCandidate(
                model,
                labels: labels,
                table: ImageFeatureTable(images: images, hashBuckets: model.hashBuckets)
            )
            let lineage = Self.lineage(of: record, in: byVersion)
            row.bootstrapPairsPerSecond = lineage.first { $0.kind == .bootstrap }.flatMap(Self.pairsPerSecond)
            row.fineTunePairsPerSecond = lineage.first { $0.kind == .finetune }.flatMap(Self.pairsPerSecond)
            rows.append(row)
        }
        report.rows = rows + baselines
        return report
    }

    /// A version and its ancestors, nearest first.
    private static func lineage(of record: ModelVersion, in versions: [Int64: ModelVersion]) -> [ModelVersion] {
        var chain = [record]
        while let parent = chain.last?.parent, let next = versions[parent], chain.count <= versions.count {
            chain.append(next)
        }
        return chain
    }

    /// Training examples per second of a version's own training run, nil when it recorded none.
    private static func pairsPerSecond(_ record: ModelVersion) -> Double? {
        let training = record.metrics.training
        guard training.examples > 0, training.seconds > 0 else { return nil }
        return Double(training.examples) / training.seconds
    }

    /// The ROC curve of `version` (the active one when nil) and of each baseline on `labels`, from the scores
    /// ``evaluate(labels:version:)`` computes AUC from; in the order of its rows.
    /// - Throws: ``LearnerError`` when there is no such (or no active) version.
    public func rocCurves(
        labels: [JudgedQuery],
        version: Int64? = nil,
        baselinesOf: Int64? = nil
    ) throws -> [(method: String, curve: ROCCurve)] {
        try methodScorers(labels: labels, version: version, baselinesOf: baselinesOf).methods.map {
            (method: $0.method, curve: Evaluator.rocCurve(labels, scores: $0.scores))
        }
    }

    /// The model and every baseline as scoring functions over the labelled queries' images.
    private func methodScorers(
        labels: [JudgedQuery],
        version: Int64?,
        baselinesOf: Int64? = nil,
        encoding: EncodingPrecision = .float32
    ) throws -> (version: Int64, unknownImages: Int, methods: [(method: String, scores: (JudgedQuery) -> [Double])]) {
        let registry = ModelRegistry(connection: connection)
        guard let version = try version ?? registry.activeVersion() else {
            throw LearnerError("no active model version to evaluate: pass --version N or run amc learn --bootstrap")
        }
        let model = try ModelArchitectures.model(from: registry.parameters(of: version))
        let baselines = try registry.baselineWeights(of: baselinesOf ?? version)
        var keys = Set<String>()
        for query in labels { keys.formUnion(query.images) }
        let images = try CatalogStore(connection: connection).images(keys: keys.sorted())
        let table = ImageFeatureTable(images: images, hashBuckets: model.hashBuckets)
        let scorer = CandidateScorer(table: table, precision: encoding)
        let prior = try ClickPrior(connection: connection, queries: labels.map(\.query), images: keys.sorted())

        var methods: [(method: String, scores: (JudgedQuery) -> [Double])] = [
            // The version's row is named by its architecture (`amc`, `late_fusion`).
            (model.architecture, { scorer.scores(model, query: $0.query, images: $0.images) }),
            ("click_prior", { query in query.images.map { prior.score(query.query, $0) } }),
        ]
        let keywordOnly = baselines[.keywordOnly].map { AMCModel(weights: $0, mode: .keywordOnly) }
        let imageOnly = baselines[.imageOnly].map { AMCModel(weights: $0, mode: .imageOnly) }
        if let keywordOnly {
            methods.append(("keyword_only", { scorer.scores(keywordOnly, query: $0.query, images: $0.images) }))
        }
        if let imageOnly {
            methods.append(("image_only", { scorer.scores(imageOnly, query: $0.query, images: $0.images) }))
        }
        if let keywordOnly, let imageOnly {
            methods.append(
                (
                    "late_fusion_fixed",
                    { query in
                        let k = scorer.scores(keywordOnly, query: query.query, images: query.images)
                        let i = scorer.scores(imageOnly, query: query.query, images: query.images)
                        return zip(k, i).map { 0.5 * $0 + 0.5 * $1 }
                    }
                )
            )
        }
        return (version, keys.count - table.count, methods)
    }
}

/// Click counts for the click-prior baseline: the pair's clicks first, the image's clicks over all queries as
/// the tie-breaker (scaled below one click).
struct ClickPrior {
    private var pairClicks: [String: [String: Int64]] = [:]
    private var imageClicks: [String: Int64] = [:]
    private var maxImageClicks: Int64 = 0

    init(connection: PostgresConnection, queries: [String], images: [String]) throws {
        let store = PairStore(connection: connection)
        pairClicks = try store.clicks(queries: queries)
        imageClicks = try store.clicks(images: images)
        maxImageClicks = imageClicks.values.max() ?? 0
    }

    func score(_ query: String, _ image: String) -> Double {
        let pair = Double(pairClicks[query]?[image] ?? 0)
        let overall = Double(imageClicks[image] ?? 0) / Double(maxImageClicks + 1)
        return pair + overall
    }
}
