import Catalog
import ClickLog
import Foundation
import Model

/// One immutable serving snapshot: a loaded model version and the catalog encoded for it.
///
/// A request takes one snapshot when it starts and uses only it, so it finishes on the version it started with
/// whatever swaps happen meanwhile.
public final class ServedModel: Sendable {
    /// The version number.
    public let version: Int64
    /// Hex SHA-256 of the version's weights blob (verified on load).
    public let sha256: String
    /// When the activation that made it active was committed.
    public let activatedAt: Date
    /// When this worker finished loading it.
    public let loadedAt: Date
    /// The model, of any architecture.
    public let model: any ScoringModel
    let catalog: EncodedCatalog

    init(
        version: Int64,
        sha256: String,
        activatedAt: Date,
        loadedAt: Date,
        model: any ScoringModel,
        catalog: EncodedCatalog
    ) {
        self.version = version
        self.sha256 = sha256
        self.activatedAt = activatedAt
        self.loadedAt = loadedAt
        self.model = model
        self.catalog = catalog
    }

    /// The version, its sha256 and its model: what the watcher keeps to apply a fine-tune of it.
    var loaded: (version: Int64, sha256: String, model: any ScoringModel) { (version, sha256, model) }

    /// The number of images this snapshot can score.
    public var catalogImages: Int { catalog.count }

    /// How the snapshot's encoded catalog is stored (`serve.encoding`).
    public var catalogPrecision: EncodingPrecision { catalog.precision }

    /// Scores catalog images for a query.
    /// - Parameters:
    ///   - query: The query as given; it is normalised like ingest (``QueryNormalizer``).
    ///   - images: Image keys; a repeated key is scored once (its first position counts for ties).
    ///   - top: Keep only this many results (all when nil).
    ///   - explain: Whether each result carries its explanation (whose score is bit-identical to the result's).
    /// - Returns: Known images by score descending (ties in input order), and the keys not in the catalog (in
    ///   input order, each once).
    /// - Throws: ``PostgresError`` when images not resident in a catalog under a memory budget cannot be read.
    public func score(query: String, images: [String], top: Int?, explain: Bool = false) async throws -> ScoringResult {
        try await score(normalizedQuery: QueryNormalizer.normalize(query), images: images, top: top, explain: explain)
    }

    /// ``score(query:images:top:explain:)`` of a query already normalised (``QueryNormalizer/normalize(_:)``): the
    /// scoring route normalises once, to validate, score and record the ranking with the same text.
    ///
    /// `inline` images (distinct keys, parsed like catalog lines) are encoded for this call only, as the catalog
    /// encodes its own, and scored with the catalog images: an inline image whose key is also in `images` takes
    /// that position and replaces the catalog's features for this call; the others follow `images`, in their order
    /// (which breaks ties). An inline image whose region dimension is not this model's is listed as unknown.
    func score(
        normalizedQuery: String,
        images: [String],
        inline: [CatalogImage] = [],
        top: Int?,
        explain: Bool = false
    ) async throws -> ScoringResult {
        var seen = Set<String>(minimumCapacity: images.count)
        let distinct = images.filter { seen.insert($0).inserted }
        let usable = inline.filter { $0.regionDimension == model.regionDimension }
        let inlineEntries = Dictionary(
            zip(usable.map(\.key), catalog.encode(usable)),
            uniquingKeysWith: { first, _ in first }
        )
        let catalogKeys = inlineEntries.isEmpty ? distinct : distinct.filter { inlineEntries[$0] == nil }
        var catalogEntries = try await catalog.entries(catalogKeys).makeIterator()
        var candidates: [(key: String, entry: EncodedCatalog.Entry?)] = distinct.map { key in
            (key, inlineEntries[key] ?? catalogEntries.next()!)
        }
        for image in inline where !seen.contains(image.key) {
            seen.insert(image.key)
            candidates.append((image.key, inlineEntries[image.key]))
        }
        var knownKeys: [String] = []
        var known: [EncodedImage] = []
        var keywords: [[String]] = []
        var unknown: [String] = []
        knownKeys.reserveCapacity(candidates.count)
        known.reserveCapacity(candidates.count)
        for (key, entry) in candidates {
            if let entry {
                knownKeys.append(key)
                known.append(entry.image)
                // Only explanations show the keywords.
                if explain { keywords.append(entry.keywords) }
            } else {
                unknown.append(key)
            }
        }
        let encodedQuery = model.encodeQuery(normalizedQuery)
        var scored = model.score(query: encodedQuery, encodedImages: known).ranked()
        // The explanation's score is the score bit for bit, but its mixing weights are the architecture's own (AMS's
        // scales, not a visual and a language weight), so the modality weights come from the scoring pass.
        let explanations = explain ? model.explain(query: encodedQuery, encodedImages: known) : []
        if let top, scored.count > top { scored.removeLast(scored.count - top) }
        return ScoringResult(
            results: scored.map {
                let key = knownKeys[$0.index]
                if explain {
                    return ScoringResult.Item(
                        image: key,
                        scored: $0,
                        explanation: explanations[$0.index],
                        keywords: keywords[$0.index]
                    )
                }
                return ScoringResult.Item(
                    image: key,
                    score: $0.score,
                    visualWeight: $0.visualWeight,
                    languageWeight: $0.languageWeight
                )
            },
            unknownImages: unknown
        )
    }

    /// Scores the resident images among `images` for a fixed query, reading nothing from the database: the
    /// watcher's warm-up, so the first real request pays no first-use costs.
    func warmUp(images: [String]) {
        let resident = images.compactMap { catalog[$0] }
        _ = model.score(query: model.encodeQuery("warm up"), encodedImages: resident)
    }
}

/// What ``ServedModel/score(query:images:top:)`` returns.
public struct ScoringResult: Sendable, Hashable {
    /// One scored image.
    public struct Item: Sendable, Hashable {
        public var image: String
        public var score: Float
        /// `β_v`; `visualWeight + languageWeight == 1`.
        public var visualWeight: Float
        /// `β_k`.
        public var languageWeight: Float
        /// Why it scored so, when the request asked (`"explain": true`).
        public var explanation: ExplanationBody? = nil
    }

    /// Known images, best first.
    public var results: [Item]
    /// Requested keys that are not in the catalog.
    public var unknownImages: [String]
}
