import Catalog
import Model
import Postgres
import Prometheus
import Synchronization

/// The catalog in the form one model version scores: every image's query-independent work done once, stored at
/// ``precision``.
///
/// Shared between versions whose image encoders are identical (an MTN-only fine-tune keeps them), so such a
/// swap costs no re-encoding. Each image's encodings are one contiguous block (``EncodedImage``).
///
/// Without a ``budget`` every image is encoded when the catalog is loaded and stays resident; every page of images
/// read (``CatalogStore/pageSize``, 2000) shares one allocation (huge pages where the OS offers them), so a
/// request's gather of ~100 scattered blocks touches few pages. With a budget the catalog is a cache: loading
/// encodes pages of the catalog until one fills the budget (evicts), each image in its own allocation (so an eviction frees
/// exactly its bytes); a request's keys that are not resident are read from PostgreSQL in one query, encoded and
/// made resident, evicting the least recently scored images beyond the budget. The lock guarding the resident
/// images is held only for lookups and insertions, never for a database round trip or an encoding.
final class EncodedCatalog: Sendable {
    /// One image a request scores: its encodings and keywords.
    typealias Entry = ResidentImages.Entry

    /// The catalog revision these were encoded from (``CatalogStore/revision()``).
    let revision: String
    /// How the encodings are stored.
    let precision: EncodingPrecision
    /// Most bytes of encodings held resident; nil: every image, never evicted.
    let budget: Int?
    /// The model whose image encoders made (and, on a miss, make) the encodings.
    let encoder: any ScoringModel
    /// Every image key of the catalog at ``revision``: a key outside it is unknown without a database round trip.
    private let keys: Set<String>
    private let reader: CatalogReader?
    private let metrics: ServingMetrics?
    private let resident: Mutex<ResidentImages>

    private init(
        revision: String,
        keys: Set<String>,
        model: any ScoringModel,
        precision: EncodingPrecision,
        budget: Int?,
        reader: CatalogReader? = nil,
        metrics: ServingMetrics? = nil
    ) {
        self.revision = revision
        self.keys = keys
        self.encoder = model
        self.precision = precision
        self.budget = budget
        self.reader = reader
        self.metrics = metrics
        resident = Mutex(ResidentImages())
    }

    /// Loads the catalog PostgreSQL holds, in one snapshot: every key, and the images encoded page by page
    /// (``CatalogStore/forEachPage(pageSize:_:)``: one page of raw features in memory at a time) — all of them
    /// without a budget; with one, until a page fills it (the first page whose insertion evicts).
    /// - Parameters:
    ///   - connection: The watcher's connection (blocks).
    ///   - model: The model to encode for.
    ///   - precision: How the encodings are stored.
    ///   - budget: Most bytes of encodings resident (nil: all).
    ///   - reader: Where a request's non-resident images are read from (needed with a budget).
    ///   - metrics: Counts hits, misses and evictions; shows the resident bytes.
    ///   - pageSize: Images read and encoded at a time.
    /// - Throws: ``PostgresError``, ``CatalogStoreError``.
    static func load(
        from connection: PostgresConnection,
        model: any ScoringModel,
        precision: EncodingPrecision,
        budget: Int?,
        reader: CatalogReader?,
        metrics: ServingMetrics?,
        pageSize: Int = CatalogStore.pageSize
    ) throws -> EncodedCatalog {
        try connection.snapshotTransaction { connection in
            let store = CatalogStore(connection: connection)
            let catalog = EncodedCatalog(
                revision: try store.revision(),
                keys: Set(try store.allKeys()),
                model: model,
                precision: precision,
                budget: budget,
                reader: reader,
                metrics: metrics
            )
            // Keys are the table's primary key: a page never repeats one. The first page that evicts has filled
            // the budget (insertions evict down to it, so the resident bytes alone never say so): reading on would
            // encode the rest of the catalog only to evict it.
            try store.forEachPage(pageSize: pageSize) { page in
                catalog.makeResident(page).evicted == 0
            }
            return catalog
        }
    }

    /// The number of images in the catalog (resident or not).
    var count: Int { keys.count }

    /// The number of resident images.
    var residentCount: Int { resident.withLock { $0.count } }

    /// Bytes held by the resident encodings.
    var residentBytes: Int { resident.withLock { $0.bytes } }

    /// Some image keys of the catalog, resident ones first (for a warm-up request).
    func someKeys(_ limit: Int) -> [String] {
        Array(resident.withLock { $0.keysByRecency.prefix(limit) })
    }

    /// A resident image's encoding (not made more recent), nil when it is not resident.
    subscript(key: String) -> EncodedImage? { resident.withLock { $0.peek(key)?.image } }

    /// The entries of `keys` (each once), in order: resident ones made most recent (hits), the others read from
    /// PostgreSQL in one query, encoded and made resident (misses); nil for a key not in the catalog.
    /// - Throws: ``PostgresError`` when a miss cannot be read.
    func entries(_ keys: [String]) async throws -> [Entry?] {
        var missing: [String] = []
        var hits = 0
        // Without a budget nothing is ever evicted: no recency to keep.
        let evicts = budget != nil
        var entries: [Entry?] = resident.withLock { resident in
            keys.map { key in
                if let entry = evicts ? resident.use(key) : resident.peek(key) {
                    hits += 1
                    return entry
                }
                // Only images of the catalog are ever made resident, so only a key that is not resident needs the
                // catalog's key set (one hash lookup per candidate instead of two).
                if self.keys.contains(key) { missing.append(key) }
                return nil
            }
        }
        metrics?.catalogCacheHits.increment(by: Int64(hits))
        guard !missing.isEmpty, let reader else { return entries }
        metrics?.catalogCacheMisses.increment(by: Int64(missing.count))
        let fetched = try await reader.images(keys: missing).filter { $0.regionDimension == encoder.regionDimension }
        let made = makeResident(fetched).entries
        for (index, key) in keys.enumerated() where entries[index] == nil {
            entries[index] = made[key]
        }
        return entries
    }

    /// Encodes `images` (this model's region dimension) exactly as the catalog's own images are encoded and stored
    /// (at ``precision``), without making them resident: a request's inline images, which only it scores.
    /// - Returns: One entry per image, in order.
    func encode(_ images: [CatalogImage]) -> [Entry] {
        guard !images.isEmpty else { return [] }
        let encoded = EncodedImage.stored(
            encoder.encodeImages(
                images.map {
                    ImageFeatures(
                        regions: $0.regions,
                        regionCount: $0.regionCount,
                        keywords: encoder.keywordInputs($0.keywords)
                    )
                }
            ),
            at: precision,
            separately: budget != nil
        )
        return zip(images, encoded).map { Entry(image: $1, keywords: $0.keywords) }
    }

    /// Encodes `images` (distinct keys, this model's region dimension) and makes them resident.
    /// - Returns: Their entries by key (also when the budget evicted them at once), and how many images the budget
    ///   evicted to make room.
    @discardableResult
    private func makeResident(_ images: [CatalogImage]) -> (entries: [String: Entry], evicted: Int) {
        guard !images.isEmpty else { return ([:], 0) }
        var made: [String: Entry] = [:]
        made.reserveCapacity(images.count)
        for (image, entry) in zip(images, encode(images)) {
            made[image.key] = entry
        }
        let (evicted, bytes) = resident.withLock { resident in
            var evicted = 0
            for image in images { evicted += resident.insert(image.key, made[image.key]!, budget: budget) }
            return (evicted, resident.bytes)
        }
        metrics?.catalogCacheEvictions.increment(by: Int64(evicted))
        metrics?.catalogCacheBytes.set(Double(bytes))
        return (made, evicted)
    }
}
