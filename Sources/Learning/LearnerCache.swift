import Catalog
import Evaluation
import Model
import Postgres
import Synchronization

/// What a learner keeps from one fine-tuning cycle to the next, so that a cycle's cost follows its window rather
/// than the history (`Docs/learning.md`, "Window-sized cycles"):
///
/// - the catalog's keys and the features of the images cycles used, for one catalog revision and bucket count
///   (dropped when either changes);
/// - the gate's image encodings, for as long as the versions judged share them (fine-tunes of one lineage);
/// - the held-out reference sample the gate falls back to, and the recent held-out queries it tops a window's up with
///   (``RecentHeldOutQueries``);
/// - the trainer (weights and Adam's moments) of the last fine-tune it published, continued by the next cycle when
///   that version is still the active one.
///
/// Memory only: a restarted learner starts empty. One learner thread uses it at a time; the state sits behind a
/// `Mutex` so the type is `Sendable` without exceptions.
public final class LearnerCache: Sendable {
    private let state = Mutex(State())

    private struct State: Sendable {
        var catalog: CatalogFeatures?
        var reference: HeldOutReference?
        var recentHeldOut: (percent: Int, queries: RecentHeldOutQueries)?
        var carried: CarriedTrainer?
        var lastCycleReads = CycleReads()
        /// The watermarks this learner's cycles read, oldest first, for the evidence horizon.
        var watermarks: [(at: ContinuousClock.Instant, watermark: String)] = []
        /// The latest refused candidate: the version it was fine-tuned from and the watermark it read.
        var refused: (parent: Int64, watermark: String)?
    }

    /// An empty cache.
    public init() {}

    /// What the latest fine-tuning cycle read from the database (a cycle that found nothing to learn included).
    public var lastCycleReads: CycleReads { state.withLock { $0.lastCycleReads } }

    func record(_ reads: CycleReads) {
        state.withLock { $0.lastCycleReads = reads }
    }

    /// Encodings of catalog images for the gate and for fine-tuning.
    let encodings = ImageEncodingCache()

    /// Where a fine-tuning cycle's recent evidence starts (``LearnerConfiguration/evidenceHorizon``): the latest
    /// watermark this learner's cycles read at least `horizon` ago, else the oldest it kept; nil when it kept none
    /// (a horizon of 0, or the process's first cycle): the window alone.
    func evidenceHorizon(_ horizon: Duration, now: ContinuousClock.Instant = .now) -> String? {
        guard horizon > .zero else { return nil }
        let limit = now - horizon
        return state.withLock { state in
            state.watermarks.last { $0.at <= limit }?.watermark ?? state.watermarks.first?.watermark
        }
    }

    /// Passes a fine-tuning cycle makes over its examples, for `epochs` (``LearnerConfiguration/fineTuneEpochs``)
    /// per click: all of them when no watermark is kept (the process's first cycle, or a horizon of 0), since the
    /// cycle's evidence is its window alone and each of its clicks is trained on in this cycle only; otherwise the
    /// share of `epochs` that the time since the previous cycle is of the horizon, at least one, since every cycle
    /// within the horizon trains on each recent click again.
    func fineTunePasses(epochs: Int, horizon: Duration, now: ContinuousClock.Instant = .now) -> Int {
        let epochs = max(1, epochs)
        guard horizon > .zero, let previous = state.withLock({ $0.watermarks.last?.at }) else { return epochs }
        let share = (now - previous) / horizon
        return min(epochs, max(1, Int((Double(epochs) * share).rounded())))
    }

    /// The watermarks kept for the evidence horizon, oldest first.
    var keptWatermarks: [String] { state.withLock { $0.watermarks.map(\.watermark) } }

    /// Keeps a cycle's watermark for ``evidenceHorizon(_:)``, and drops those no horizon of `horizon` needs any more
    /// (all but the latest one at least that old).
    func keepWatermark(_ watermark: String, for horizon: Duration, now: ContinuousClock.Instant = .now) {
        guard horizon > .zero else { return }
        state.withLock { state in
            state.watermarks.append((now, watermark))
            if let last = state.watermarks.lastIndex(where: { $0.at <= now - horizon }), last > 0 {
                state.watermarks.removeFirst(last)
            }
        }
    }

    /// Notes that the gate refused a candidate fine-tuned from `parent` on the window up to `watermark` (or, with
    /// no parent, a bootstrap: nothing to remember).
    func noteRefusal(of parent: Int64?, watermark: String) {
        state.withLock { $0.refused = parent.map { ($0, watermark) } }
    }

    /// The watermark of the latest candidate of `version` the gate refused since this learner last published one;
    /// nil when none was.
    func refusedWatermark(of version: Int64) -> String? {
        state.withLock { state in state.refused.flatMap { $0.parent == version ? $0.watermark : nil } }
    }

    /// Forgets the refusal: a candidate was published.
    func clearRefusal() {
        state.withLock { $0.refused = nil }
    }

    // MARK: - Catalog

    /// The catalog's keys and the features loaded so far.
    private struct CatalogFeatures: Sendable {
        var revision: String
        var hashBuckets: Int
        var dimension: Int
        var keys: [String]
        var positions: [String: Int]
        var loaded: [ImageFeatures?]

        var table: ImageFeatureTable { ImageFeatureTable(keys: keys, positions: positions, loaded: loaded) }
    }

    /// The catalog as of its current revision, keys only, with the features cycles loaded so far; reads the keys
    /// again (and forgets every feature) when the revision or the bucket count changed.
    /// - Returns: The table and the catalog's region dimension.
    /// - Throws: ``LearnerError`` when the catalog is empty.
    func catalog(
        hashBuckets: Int,
        store: CatalogStore,
        reads: inout CycleReads
    ) throws -> (ImageFeatureTable, Int) {
        let revision = try store.revision()
        reads.statements += 1
        if let cached = state.withLock({ $0.catalog }), cached.revision == revision, cached.hashBuckets == hashBuckets {
            return (cached.table, cached.dimension)
        }
        guard let dimension = try store.regionDimension() else {
            throw LearnerError("the image catalog is empty: import it first (amc catalog import FILE)")
        }
        let keys = try store.allKeys()
        reads.statements += 2
        reads.catalogKeys += keys.count
        var positions: [String: Int] = [:]
        positions.reserveCapacity(keys.count)
        for (position, key) in keys.enumerated() { positions[key] = position }
        let fresh = CatalogFeatures(
            revision: revision,
            hashBuckets: hashBuckets,
            dimension: dimension,
            keys: keys,
            positions: positions,
            loaded: Array(repeating: nil, count: keys.count)
        )
        state.withLock { $0.catalog = fresh }
        // An image replaced by the import that changed the revision has other features: encode everything anew.
        encodings.removeAll()
        return (fresh.table, dimension)
    }

    /// `table` with the features of `positions` loaded: those not loaded yet are read (one query per page of
    /// images) and kept.
    /// - Throws: ``LearnerError`` when an image disappeared from the catalog since its keys were read (the next
    ///   cycle reads them again).
    func loading(
        _ positions: some Sequence<Int>,
        into table: ImageFeatureTable,
        store: CatalogStore,
        reads: inout CycleReads
    ) throws -> ImageFeatureTable {
        let missing = Set(positions.filter { !table.isLoaded($0) }).sorted()
        guard !missing.isEmpty else { return table }
        let hashBuckets = state.withLock { $0.catalog?.hashBuckets } ?? 0
        let images = try store.images(keys: missing.map { table.keys[$0] })
        reads.statements += (missing.count + CatalogStore.pageSize - 1) / CatalogStore.pageSize
        reads.catalogRows += images.count
        guard images.count == missing.count else {
            state.withLock { $0.catalog = nil }
            throw LearnerError("the catalog changed during the cycle; its keys are read again next cycle")
        }
        return state.withLock { state -> ImageFeatureTable in
            guard var catalog = state.catalog else { return table }
            for image in images {
                guard let position = catalog.positions[image.key] else { continue }
                catalog.loaded[position] = ImageFeatureTable.features(of: image, hashBuckets: hashBuckets)
            }
            state.catalog = catalog
            return catalog.table
        }
    }

    // MARK: - Held-out reference

    /// The fixed held-out sample the gate falls back to, for one held-out percentage and size.
    private struct HeldOutReference: Sendable {
        var percent: Int
        var size: Int
        var queries: [String]
    }

    /// The first `size` held-out queries in key order (read once, then kept): a bounded, fixed sample of the
    /// held-out queries, whatever the number of pairs. Reading it walks the pairs' primary key from query to query
    /// (one index probe per distinct query, about `size × 100 / percent` of them), never the whole table.
    func heldOutReference(
        percent: Int,
        size: Int,
        store: PairStore,
        reads: inout CycleReads
    ) throws -> [String] {
        if let cached = state.withLock({ $0.reference }), cached.percent == percent, cached.size == size {
            return cached.queries
        }
        var queries: [String] = []
        if percent > 0, size > 0 {
            // At most 4× the expected number of probes, so a skewed hash cannot make it walk the whole key range.
            let budget = 4 * size * 100 / percent
            var scanned = 0
            var after = ""
            while queries.count < size, scanned < budget {
                let limit = min(1000, budget - scanned)
                let page = try store.queries(after: after, limit: limit)
                reads.statements += 1
                reads.queryRows += page.count
                scanned += page.count
                for query in page where TrainingData.isHeldOut(query, percent: percent) && queries.count < size {
                    queries.append(query)
                }
                guard page.count == limit, let last = page.last else { break }
                after = last
            }
        }
        let reference = HeldOutReference(percent: percent, size: size, queries: queries)
        state.withLock { $0.reference = reference }
        return queries
    }

    // MARK: - Recent held-out queries

    /// The gate's queries for a window (``RecentHeldOutQueries/composing(window:minimum:)``), then the window's
    /// remembered for the next cycles. The memory starts over when the held-out percentage changes.
    /// - Parameters:
    ///   - window: The window's held-out queries, graded by its clicks.
    ///   - minimum: `learn.gate.min-queries`, also the memory's capacity.
    ///   - percent: `learn.holdout-percent`.
    func gateQueries(
        window: [JudgedQuery],
        minimum: Int,
        percent: Int
    ) -> (queries: [JudgedQuery], fromWindow: Int, fromEarlier: Int) {
        state.withLock { state in
            var recent = RecentHeldOutQueries(capacity: minimum)
            if let kept = state.recentHeldOut, kept.percent == percent, kept.queries.capacity == minimum {
                recent = kept.queries
            }
            let composed = recent.composing(window: window, minimum: minimum)
            recent.remember(window)
            state.recentHeldOut = (percent, recent)
            return composed
        }
    }

    // MARK: - Adam's moments

    /// A fine-tune's trainer after its last step, and the version it was published as.
    private struct CarriedTrainer: Sendable {
        var version: Int64
        var settings: TrainerSettings
        var trainer: any ScoringModelTrainer
    }

    /// The trainer that produced `version`, when this learner published it with the same settings: continuing it
    /// continues that version's weights and Adam's moments and step count.
    func trainer(continuing version: Int64, settings: TrainerSettings) -> (any ScoringModelTrainer)? {
        state.withLock { state in
            guard let carried = state.carried, carried.version == version, carried.settings == settings else {
                return nil
            }
            return carried.trainer
        }
    }

    /// Keeps the trainer that produced the published `version` (replacing any other lineage's).
    func carry(_ trainer: any ScoringModelTrainer, settings: TrainerSettings, as version: Int64) {
        state.withLock { $0.carried = CarriedTrainer(version: version, settings: settings, trainer: trainer) }
    }
}

/// What one fine-tuning cycle read from the database: statements and rows by source. A cycle's reads depend on its
/// window (and on the catalog's revision changes), not on how many pairs the table holds.
public struct CycleReads: Sendable, Hashable, CustomStringConvertible {
    /// Statements that read pairs, events, queries or the catalog (not the registry reads of the active version,
    /// nor the publishing transaction).
    public var statements = 0
    /// Relevance pairs read (the window's queries' pairs, and the held-out reference's when the gate needs them).
    public var pairRows = 0
    /// Aggregated click-event rows of the window (one per pair with new clicks).
    public var eventRows = 0
    /// Catalog images whose features were read.
    public var catalogRows = 0
    /// Catalog keys read (only when the catalog's revision changed).
    public var catalogKeys = 0
    /// Distinct queries read to choose the held-out reference sample (once per process).
    public var queryRows = 0

    public init() {}

    public var description: String {
        "statements=\(statements) pairs=\(pairRows) events=\(eventRows) images=\(catalogRows) "
            + "keys=\(catalogKeys) queries=\(queryRows)"
    }
}

/// Image encodings by catalog key, made by one model and reused by every model that shares them
/// (``ScoringModel/sharesImageEncodings(with:)``: fine-tunes of its online part): the gate's candidates and the
/// fine-tuning examples' images.
///
/// Bounded by ``memoryBudget``: when the encodings kept pass it, those the current call does not ask for are
/// dropped (in no particular order) until they fit again, so a catalog of millions of images costs the learner at
/// most the budget, and a small one stays encoded once for the whole lineage.
final class ImageEncodingCache: Sendable {
    /// Bytes of encodings kept at most between calls (a call's own images are kept however many there are).
    let memoryBudget: Int
    private let state = Mutex<Kept>(Kept())

    private struct Kept: Sendable {
        var model: (any ScoringModel)?
        var byKey: [String: EncodedImage] = [:]
        var bytes = 0
    }

    /// An empty cache.
    /// - Parameter memoryBudget: Bytes of encodings kept at most. Default: 256 MiB (about 13,000 images encoded
    ///   by AMC at the default dimensions).
    init(memoryBudget: Int = 256 << 20) {
        self.memoryBudget = memoryBudget
    }

    /// Forgets every encoding (the catalog changed).
    func removeAll() {
        state.withLock { $0 = Kept() }
    }

    /// Bytes of encodings kept now.
    var keptBytes: Int { state.withLock { $0.bytes } }

    /// The keys of the images whose encodings are kept now.
    var keptKeys: Set<String> { state.withLock { Set($0.byKey.keys) } }

    /// The encodings of `keys` for `model` (those in `table`): those kept, when `model` shares them with the model
    /// that made them, and the others encoded now (and kept, within ``memoryBudget``). A model that shares none
    /// starts over.
    func encodings(of keys: [String], by model: any ScoringModel, table: ImageFeatureTable) -> [String: EncodedImage] {
        var kept = state.withLock { $0 }
        if let existing = kept.model, existing.sharesImageEncodings(with: model) {
            // Kept.
        } else {
            kept = Kept(model: model)
        }
        var seen = Set<String>()
        let missing = keys.filter { kept.byKey[$0] == nil && table[$0] != nil && seen.insert($0).inserted }
        if !missing.isEmpty {
            // Each in its own allocation, so that dropping one frees its memory.
            let encoded = EncodedImage.stored(
                model.encodeImages(missing.map { table[$0]! }),
                at: .float32,
                separately: true
            )
            for (key, encoded) in zip(missing, encoded) {
                kept.byKey[key] = encoded
                kept.bytes += encoded.byteCount
            }
        }
        var asked: [String: EncodedImage] = [:]
        for key in keys {
            if let encoded = kept.byKey[key] { asked[key] = encoded }
        }
        if kept.bytes > memoryBudget {
            for (key, encoded) in kept.byKey where asked[key] == nil {
                kept.byKey[key] = nil
                kept.bytes -= encoded.byteCount
                if kept.bytes <= memoryBudget { break }
            }
        }
        state.withLock { $0 = kept }
        return asked
    }
}
