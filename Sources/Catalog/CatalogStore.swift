import Postgres

/// The image catalog in PostgreSQL (table `images`, `Migrations/0002_learning.sql`).
///
/// Region features are stored as `bytea`: R·D little-endian float32 values, row-major, so values round-trip
/// bit for bit (including −0, subnormals and NaN payloads).
///
/// - Important: The methods block on network I/O; call them off Swift's cooperative pool (for example inside
///   ``PostgresConnection/run(_:)``). The store uses no state of its own beyond the connection.
public struct CatalogStore: Sendable {
    private let connection: PostgresConnection

    /// Images read per statement by ``allImages()`` and keys per statement in ``images(keys:)``.
    public static let pageSize = 2000

    /// Second key of the transaction-level advisory lock that serialises catalog writes; the first key is
    /// amc-stream's namespace `'AMC'` (0x414D43), shared with the learner's locks (keys 1 and 2).
    static let writeLockKey: Int32 = 3
    static let lockNamespace: Int32 = 0x41_4D43

    /// - Parameter connection: The connection to use (not closed by the store).
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// D of the stored catalog.
    /// - Returns: The region dimension of the stored images, or nil when the catalog is empty.
    /// - Throws: ``PostgresError``.
    public func regionDimension() throws -> Int? {
        try connection.query("SELECT region_dimension FROM images LIMIT 1").first?.decode(Int.self, column: 0)
    }

    /// The number of stored images.
    /// - Throws: ``PostgresError``.
    public func count() throws -> Int {
        try connection.query("SELECT count(*) FROM images")[0].decode(Int.self, column: 0)
    }

    /// The stored catalog's revision, for readers that poll for updates: it changes with every committed
    /// statement that inserts, replaces or deletes images (a counter a trigger advances in the writer's transaction),
    /// and reading it reads one row, whatever the catalog's size.
    /// - Throws: ``PostgresError``.
    public func revision() throws -> String {
        String(try connection.query("SELECT revision FROM catalog_revision")[0].decode(Int64.self, column: 0))
    }

    /// Inserts new images and replaces existing ones (by key), in one transaction.
    ///
    /// A replaced image gets the new keywords and regions and `updated_at = now()`; its `imported_at` is kept.
    /// Rows travel by `COPY` into a temporary table, then one `INSERT … ON CONFLICT (image) DO UPDATE`. When a
    /// key appears more than once in `images`, the last one wins, and the counts are as if the images had been
    /// written one after another (the first of a new key counts as inserted, every later one as updated).
    /// Concurrent calls (from any process) are serialised by a transaction-level advisory lock, so the
    /// one-D-per-catalog check cannot race.
    /// - Important: Opens its own transaction; do not call it inside ``PostgresConnection/transaction(_:)``.
    /// - Parameter images: The images; every one must have the same D as each other and as the stored catalog.
    /// - Returns: How many keys were new, and how many images replaced an existing (or earlier) one.
    /// - Throws: ``CatalogStoreError`` for images that break the invariants (nothing is written), or
    ///   ``PostgresError``.
    @discardableResult
    public func upsert(_ images: [CatalogImage]) throws -> (inserted: Int, updated: Int) {
        guard let dimension = images.first?.regionDimension else { return (0, 0) }
        var lastIndex: [String: Int] = [:]
        lastIndex.reserveCapacity(images.count)
        for (index, image) in images.enumerated() {
            try Self.validate(image)
            guard image.regionDimension == dimension else {
                throw CatalogStoreError(
                    code: "dimension_mismatch",
                    message: "image \(image.key.debugDescription) has D = \(image.regionDimension); "
                        + "the batch's D is \(dimension)"
                )
            }
            lastIndex[image.key] = index
        }
        let distinct = images.indices.filter { lastIndex[images[$0].key] == $0 }

        let inserted = try connection.transaction { connection in
            try connection.execute("SELECT pg_advisory_xact_lock(\(Self.lockNamespace), \(Self.writeLockKey))")
            if let stored = try connection.query("SELECT region_dimension FROM images LIMIT 1").first?.decode(
                Int.self,
                column: 0
            ), stored != dimension {
                throw CatalogStoreError(
                    code: "dimension_mismatch",
                    message: "the images have D = \(dimension); the stored catalog's D is \(stored)"
                )
            }
            try connection.execute(
                script: """
                    CREATE TEMP TABLE amc_catalog_stage (
                        image text NOT NULL, keywords text[] NOT NULL, region_count integer NOT NULL,
                        region_dimension integer NOT NULL, regions bytea NOT NULL
                    ) ON COMMIT DROP
                    """
            )
            _ = try connection.copyIn(
                "COPY amc_catalog_stage (image, keywords, region_count, region_dimension, regions) FROM STDIN"
            ) { writer in
                for index in distinct {
                    let image = images[index]
                    writer.beginRow()
                    writer.append(image.key)
                    writer.append(Self.arrayLiteral(image.keywords))
                    writer.append(image.regionCount)
                    writer.append(image.regionDimension)
                    writer.append(bytea: image.regionBytes)
                    writer.endRow()
                }
            }
            // A row's xmax is 0 for a fresh insert, and the locking transaction's id when ON CONFLICT updated it.
            let rows = try connection.query(
                """
                WITH written AS (
                    INSERT INTO images AS i (image, keywords, region_count, region_dimension, regions)
                    SELECT image, keywords, region_count, region_dimension, regions FROM amc_catalog_stage
                    ON CONFLICT (image) DO UPDATE
                    SET keywords = EXCLUDED.keywords, region_count = EXCLUDED.region_count,
                        region_dimension = EXCLUDED.region_dimension, regions = EXCLUDED.regions, updated_at = now()
                    RETURNING (i.xmax = 0) AS inserted
                )
                SELECT count(*) FILTER (WHERE inserted) FROM written
                """
            )
            return try rows[0].decode(Int.self, column: 0)
        }
        return (inserted, images.count - inserted)
    }

    /// Every stored image, ordered by key (the database's collation).
    ///
    /// Read in pages of ``pageSize`` images (keyset pagination on the primary key), so the text of only one page
    /// is held besides the result. Each page is its own statement: an import committing meanwhile may be visible in
    /// later pages only. For one snapshot, call this inside your own `REPEATABLE READ` transaction.
    /// - Returns: The images.
    /// - Throws: ``PostgresError``, or ``CatalogStoreError`` (`corrupt_row`).
    public func allImages() throws -> [CatalogImage] {
        var images: [CatalogImage] = []
        try forEachPage { page in
            images.append(contentsOf: page)
            return true
        }
        return images
    }

    /// Every stored image, ordered by key, handed to `body` one page of `pageSize` images at a time, so only one
    /// page of features is in memory (see ``allImages()`` for the snapshot caveat).
    /// - Parameters:
    ///   - pageSize: Images per page (``pageSize`` by default).
    ///   - body: Receives each page; returns false to stop reading.
    /// - Throws: ``PostgresError``, ``CatalogStoreError`` (`corrupt_row`), or what `body` throws.
    public func forEachPage(pageSize: Int = Self.pageSize, _ body: ([CatalogImage]) throws -> Bool) throws {
        precondition(pageSize > 0, "pageSize must be positive")
        var after = ""  // keys are never empty (a CHECK constraint), so "" precedes them all
        while true {
            let rows = try connection.query(
                """
                SELECT image, keywords, region_count, region_dimension, regions FROM images
                WHERE image > \(after) ORDER BY image LIMIT \(pageSize)
                """
            )
            let page = try rows.map { try Self.decode($0) }
            guard !page.isEmpty, try body(page), page.count == pageSize, let last = page.last else { break }
            after = last.key
        }
    }

    /// Every stored image's key, in key order (an index-only read of the primary key; no features).
    /// - Throws: ``PostgresError``.
    public func allKeys() throws -> [String] {
        try connection.query("SELECT image FROM images ORDER BY image").map { try $0.decode(String.self, column: 0) }
    }

    /// The stored images with the given keys.
    /// - Parameter keys: Image keys; repeats and unknown keys are fine.
    /// - Returns: One image per distinct known key, in the order of the keys' first appearance in `keys`.
    /// - Throws: ``PostgresError``, or ``CatalogStoreError`` (`corrupt_row`).
    public func images(keys: [String]) throws -> [CatalogImage] {
        var seen = Set<String>()
        let wanted = keys.filter { seen.insert($0).inserted }
        var found: [String: CatalogImage] = [:]
        found.reserveCapacity(wanted.count)
        var start = 0
        while start < wanted.count {
            let chunk = Array(wanted[start..<min(start + Self.pageSize, wanted.count)])
            start += chunk.count
            let rows = try connection.query(
                """
                SELECT image, keywords, region_count, region_dimension, regions FROM images
                WHERE image = ANY(\(chunk))
                """
            )
            for row in rows {
                let image = try Self.decode(row)
                found[image.key] = image
            }
        }
        return wanted.compactMap { found[$0] }
    }

    // MARK: - Internals

    static func validate(_ image: CatalogImage) throws {
        let problem: String?
        let (cells, overflow) = image.regionCount.multipliedReportingOverflow(by: image.regionDimension)
        if image.key.isEmpty {
            problem = "an image has an empty key"
        } else if image.regionCount < 0 || image.regionDimension < 1 || overflow {
            problem = "image \(image.key.debugDescription) has shape [\(image.regionCount), \(image.regionDimension)]"
        } else if image.regions.count != cells {
            problem =
                "image \(image.key.debugDescription) has \(image.regions.count) region values; "
                + "shape [\(image.regionCount), \(image.regionDimension)] needs \(cells)"
        } else {
            problem = nil
        }
        if let problem { throw CatalogStoreError(code: "invalid_image", message: problem) }
    }

    /// A `text[]` literal with every element double-quoted (`"` and `\` escaped); COPY escaping comes on top.
    static func arrayLiteral(_ elements: [String]) -> String {
        var text = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { text += "," }
            text += "\""
            if element.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                for scalar in element.unicodeScalars {
                    if scalar == "\"" || scalar == "\\" { text.unicodeScalars.append("\\") }
                    text.unicodeScalars.append(scalar)
                }
            } else {
                text += element
            }
            text += "\""
        }
        return text + "}"
    }

    static func decode(_ row: PostgresRow) throws -> CatalogImage {
        let key = try row.decode(String.self, column: 0)
        let keywords = try row.decode([String].self, column: 1)
        let count = try row.decode(Int.self, column: 2)
        let dimension = try row.decode(Int.self, column: 3)
        guard var hex = row[4], let regions = Self.floats(fromByteaHex: &hex), regions.count == count * dimension
        else {
            throw CatalogStoreError(
                code: "corrupt_row",
                message:
                    "the regions of image \(key.debugDescription) do not decode as \(count) × \(dimension) float32"
            )
        }
        return CatalogImage(
            key: key,
            keywords: keywords,
            regions: regions,
            regionCount: count,
            regionDimension: dimension
        )
    }

    /// 0…15 for hex digits, 0xFF otherwise.
    private static let hexValues: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, byte) in "0123456789abcdef".utf8.enumerated() { table[Int(byte)] = UInt8(value) }
        for (value, byte) in "ABCDEF".utf8.enumerated() { table[Int(byte)] = UInt8(value + 10) }
        return table
    }()

    /// Decodes `bytea` hex output (`\x…`, 8 hex digits per float) straight into little-endian float32 values.
    static func floats(fromByteaHex text: inout String) -> [Float]? {
        text.withUTF8 { utf8 -> [Float]? in
            guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"),
                (utf8.count - 2) % 8 == 0
            else { return nil }
            let count = (utf8.count - 2) / 8
            var valid = true
            let values = hexValues.withUnsafeBufferPointer { table in
                [Float](unsafeUninitializedCapacity: count) { out, initialized in
                    var position = 2
                    for index in 0..<count {
                        var bits: UInt32 = 0
                        for byte in 0..<4 {
                            let high = table[Int(utf8[position])]
                            let low = table[Int(utf8[position + 1])]
                            if (high | low) > 15 { valid = false }
                            bits |= UInt32(high << 4 | low) << (8 * UInt32(byte))
                            position += 2
                        }
                        out[index] = Float(bitPattern: bits)
                    }
                    initialized = count
                }
            }
            return valid ? values : nil
        }
    }
}
