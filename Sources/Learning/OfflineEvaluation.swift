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
    /// - Throws: ``LearnerError`` when there is no such (or no active) version.
    public func evaluate(labels: [JudgedQuery], version: Int64? = nil) throws -> EvaluationReport {
        let scorers = try methodScorers(labels: labels, version: version)
        return EvaluationReport(
            version: scorers.version,
            labelledQueries: labels.count,
            unknownImages: scorers.unknownImages,
            rows: scorers.methods.map {
                EvaluationRow(method: $0.method, metrics: Evaluator.evaluate(labels, scores: $0.scores))
            }
        )
    }

    /// The ROC curve of `version` (the active one when nil) and of each baseline on `labels`, from the scores
    /// ``evaluate(labels:version:)`` computes AUC from; in the order of its rows.
    /// - Throws: ``LearnerError`` when there is no such (or no active) version.
    public func rocCurves(labels: [JudgedQuery], version: Int64? = nil) throws -> [(method: String, curve: ROCCurve)] {
        try methodScorers(labels: labels, version: version).methods.map {
            (method: $0.method, curve: Evaluator.rocCurve(labels, scores: $0.scores))
        }
    }

    /// The model and every baseline as scoring functions over the labelled queries' images.
    private func methodScorers(
        labels: [JudgedQuery],
        version: Int64?
    ) throws -> (version: Int64, unknownImages: Int, methods: [(method: String, scores: (JudgedQuery) -> [Double])]) {
        let registry = ModelRegistry(connection: connection)
        guard let version = try version ?? registry.activeVersion() else {
            throw LearnerError("no active model version to evaluate: pass --version N or run amc learn --bootstrap")
        }
        let model = try ModelArchitectures.model(from: registry.parameters(of: version))
        let baselines = try registry.baselineWeights(of: version)
        var keys = Set<String>()
        for query in labels { keys.formUnion(query.images) }
        let images = try CatalogStore(connection: connection).images(keys: keys.sorted())
        let table = ImageFeatureTable(images: images, hashBuckets: model.hashBuckets)
        let scorer = CandidateScorer(table: table)
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
