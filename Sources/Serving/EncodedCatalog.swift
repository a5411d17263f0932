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
/// made resident, evicting the least recently scored images beyond the budget; a key another request is already
/// reading is waited for, not read again (one read per key in flight). The lock guarding the resident
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
    private let state: Mutex<State>

    /// What the lock guards: the resident images, and the reads of missing images in flight.
    private struct State {
        var resident = ResidentImages()
        /// The read in flight of each key being read: a request that misses such a key waits for that read.
        var reading: [String: ImageRead] = [:]
    }

    /// One read of missing images: reads them from PostgreSQL, encodes them and makes them resident; its value is
    /// their entries by key.
    private typealias ImageRead = Task<[String: Entry], any Error>

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
        state = Mutex(State())
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
    var residentCount: Int { state.withLock { $0.resident.count } }

    /// Bytes held by the resident encodings.
    var residentBytes: Int { state.withLock { $0.resident.bytes } }

    /// Some image keys of the catalog, resident ones first (for a warm-up request).
    func someKeys(_ limit: Int) -> [String] {
        Array(state.withLock { $0.resident.keysByRecency.prefix(limit) })
    }

    /// A resident image's encoding (not made more recent), nil when it is not resident.
    subscript(key: String) -> EncodedImage? { state.withLock { $0.resident.peek(key)?.image } }

    /// The entries of `keys` (each once), in order: resident ones made most recent (hits), the others read from
    /// PostgreSQL in one query, encoded and made resident (misses) — or, for a key another request is reading
    /// already, taken from that read; nil for a key not in the catalog.
    /// - Throws: ``PostgresError`` when a miss cannot be read.
    func entries(_ keys: [String]) async throws -> [Entry?] {
        var hits = 0
        var misses = 0
        // The reads this request waits for: its own (of the keys nobody reads yet) and those it joins, each once.
        var reads: [ImageRead] = []
        // Without a budget nothing is ever evicted: no recency to keep.
        let evicts = budget != nil
        var entries: [Entry?] = state.withLock { state in
            var missing: [String] = []
            let entries = keys.map { key -> Entry? in
                if let entry = evicts ? state.resident.use(key) : state.resident.peek(key) {
                    hits += 1
                    return entry
                }
                // Only images of the catalog are ever made resident, so only a key that is not resident needs the
                // catalog's key set (one hash lookup per candidate instead of two).
                guard self.keys.contains(key) else { return nil }
                misses += 1
                if let read = state.reading[key] {
                    if !reads.contains(read) { reads.append(read) }
                } else {
                    missing.append(key)
                }
                return nil
            }
            if !missing.isEmpty, let reader {
                let read = ImageRead { [missing] in try await self.read(missing, from: reader) }
                for key in missing { state.reading[key] = read }
                reads.append(read)
            }
            return entries
        }
        metrics?.catalogCacheHits.increment(by: Int64(hits))
        guard misses > 0, reader != nil else { return entries }
        metrics?.catalogCacheMisses.increment(by: Int64(misses))
        var made: [String: Entry] = [:]
        for read in reads { made.merge(try await read.value) { first, _ in first } }
        for (index, key) in keys.enumerated() where entries[index] == nil {
            entries[index] = made[key]
        }
        return entries
    }

    /// Reads `keys` (not resident, and read by no other request) from PostgreSQL, encodes them and makes them
    /// resident. They stop being read in the same critical section that makes them resident (or, on an error, as
    /// the error is thrown), so a request always finds each key resident, being read, or neither (then it reads it).
    /// - Returns: The entries by key (also of images the budget evicted at once).
    private func read(_ keys: [String], from reader: CatalogReader) async throws -> [String: Entry] {
        do {
            let fetched = try await reader.images(keys: keys).filter { $0.regionDimension == encoder.regionDimension }
            return makeResident(fetched, finishing: keys).entries
        } catch {
            state.withLock { state in
                for key in keys { state.reading[key] = nil }
            }
            throw error
        }
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
        // Images stored separately (under a budget, each evicted on its own) keep their own keywords too; the others
        // share their batch's lists, as they share its storage.
        guard budget == nil else { return zip(images, encoded).map { Entry(image: $1, keywords: $0.keywords) } }
        let lists = ResidentImages.KeywordLists(images.map(\.keywords))
        return encoded.indices.map { Entry(image: encoded[$0], keywordLists: lists, at: $0) }
    }

    /// Encodes `images` (distinct keys, this model's region dimension) and makes them resident.
    /// - Parameter finishing: Keys whose read this is: no longer being read once the images are resident.
    /// - Returns: Their entries by key (also when the budget evicted them at once), and how many images the budget
    ///   evicted to make room.
    @discardableResult
    private func makeResident(
        _ images: [CatalogImage],
        finishing: [String] = []
    ) -> (entries: [String: Entry], evicted: Int) {
        var made: [String: Entry] = [:]
        made.reserveCapacity(images.count)
        for (image, entry) in zip(images, encode(images)) {
            made[image.key] = entry
        }
        let (evicted, bytes) = state.withLock { state in
            var evicted = 0
            for image in images { evicted += state.resident.insert(image.key, made[image.key]!, budget: budget) }
            for key in finishing { state.reading[key] = nil }
            return (evicted, state.resident.bytes)
        }
        metrics?.catalogCacheEvictions.increment(by: Int64(evicted))
        metrics?.catalogCacheBytes.set(Double(bytes))
        return (made, evicted)
    }
}
