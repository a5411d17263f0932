import Foundation
import Postgres
import TestSupport
import Testing

@testable import Catalog

/// Against a real PostgreSQL: each test gets its own fresh, migrated database.
@Suite(.timeLimit(.minutes(6)))
struct CatalogStoreTests {
    func image(_ key: String, keywords: [String] = ["red car"], regions: [Float], rows: Int) -> CatalogImage {
        CatalogImage(
            key: key,
            keywords: keywords,
            regions: regions,
            regionCount: rows,
            regionDimension: regions.count / rows
        )
    }

    @Test func upsertInsertsThenUpdatesKeepingImportedAt() async throws {
        let url = try TestPostgres.freshDatabase()
        try await blocking {
            let connection = try PostgresConnection.connect(url, logger: testLogger)
            defer { connection.close() }
            let store = CatalogStore(connection: connection)
            #expect(try store.regionDimension() == nil)
            #expect(try store.count() == 0)

            let first = try store.upsert([
                image("a", regions: [1, 2, 3, 4], rows: 2),
                image("b", regions: [5, 6, 7, 8], rows: 2),
            ])
            #expect(first == (2, 0))
            #expect(try store.regionDimension() == 2)
            let before = try timestamps(connection, "a")
            #expect(before.imported == before.updated)

            let second = try store.upsert([
                image("a", keywords: ["blue car", "sky"], regions: [9, 9, 9, 9, 9, 9], rows: 3),
                image("c", regions: [0, 0], rows: 1),
            ])
            #expect(second == (1, 1))
            #expect(try store.count() == 3)
            let after = try timestamps(connection, "a")
            #expect(after.imported == before.imported, "imported_at is kept")
            #expect(after.updated > before.updated, "updated_at moves (a later transaction)")
            let a = try #require(try store.images(keys: ["a"]).first)
            #expect(a.keywords == ["blue car", "sky"])
            #expect(a.regionCount == 3)
            #expect(a.regions == [9, 9, 9, 9, 9, 9])

            // A key repeated in one call: the last wins; counted as one insert then one update.
            let repeated = try store.upsert([
                image("d", keywords: ["old"], regions: [1, 1], rows: 1),
                image("d", keywords: ["new"], regions: [2, 2], rows: 1),
            ])
            #expect(repeated == (1, 1))
            #expect(try store.images(keys: ["d"]).map(\.keywords) == [["new"]])
            #expect(try store.upsert([]) == (0, 0))
        }
    }

    @Test func floatsRoundTripBitExactly() async throws {
        let url = try TestPostgres.freshDatabase()
        try await blocking {
            let connection = try PostgresConnection.connect(url, logger: testLogger)
            defer { connection.close() }
            let store = CatalogStore(connection: connection)
            let special: [Float] = [
                -0.0, 0, Float.leastNonzeroMagnitude, -Float.leastNonzeroMagnitude, Float(bitPattern: 0x0001_16C2),
                .leastNormalMagnitude,
                .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1, -1, .pi, 0.1,
                Float(bitPattern: 0x7FC0_1234),  // a NaN with a payload: storage keeps whatever it is given
                .infinity, -.infinity, Float(bitPattern: 0x0000_0001),
            ]
            var rng = SplitMix64(seed: 3)
            let random = CatalogLines.randomRegions(count: 16, using: &rng)
            let images = [
                image(
                    "special",
                    keywords: ["a \"quoted\" word", "back\\slash", "tab\tand\nnewline", "ünïcødé"],
                    regions: special,
                    rows: 4
                ),
                image("random", keywords: [], regions: random, rows: 4),
            ]
            try store.upsert(images)
            for read in [try store.allImages(), try store.images(keys: ["special", "random"]).reversed()] {
                let byKey = Dictionary(uniqueKeysWithValues: read.map { ($0.key, $0) })
                for original in images {
                    let stored = try #require(byKey[original.key])
                    #expect(stored.regionBits == original.regionBits)
                    #expect(stored.keywords == original.keywords)
                    #expect(stored.regionCount == original.regionCount)
                    #expect(stored.regionDimension == original.regionDimension)
                }
            }
        }
    }

    @Test func readsInKeyOrderAcrossPagesPageByPageAndByKeysInRequestOrder() async throws {
        let url = try TestPostgres.freshDatabase()
        try await blocking {
            let connection = try PostgresConnection.connect(url, logger: testLogger)
            defer { connection.close() }
            let store = CatalogStore(connection: connection)
            let count = CatalogStore.pageSize + 500
            let images = (0..<count).map { index in
                image(String(format: "img%05d", index), keywords: ["k\(index)"], regions: [Float(index), -1], rows: 1)
            }
            #expect(try store.upsert(images.shuffled()) == (count, 0))
            let all = try store.allImages()
            #expect(all.map(\.key) == images.map(\.key))
            #expect(all == images)
            // Page by page: whole pages in key order, and a body that returns false reads no further page.
            var pages: [[CatalogImage]] = []
            try store.forEachPage { page in
                pages.append(page)
                return true
            }
            #expect(pages.map(\.count) == [CatalogStore.pageSize, 500])
            #expect(Array(pages.joined()) == images)
            var firstOnly: [[CatalogImage]] = []
            try store.forEachPage { page in
                firstOnly.append(page)
                return false
            }
            #expect(firstOnly.map(\.count) == [CatalogStore.pageSize])

            let picked = try store.images(keys: ["img00007", "missing", "img00002", "img00007", "img02400"])
            #expect(picked.map(\.key) == ["img00007", "img00002", "img02400"])
            #expect(picked[0].regions == [7, -1])
            #expect(try store.images(keys: []).isEmpty)
        }
    }

    @Test func dimensionMustMatchTheStoredCatalog() async throws {
        let url = try TestPostgres.freshDatabase()
        try await blocking {
            let connection = try PostgresConnection.connect(url, logger: testLogger)
            defer { connection.close() }
            let store = CatalogStore(connection: connection)
            try store.upsert([image("a", regions: [1, 2, 3], rows: 1)])

            // The parser, given the stored D, refuses another D.
            let stored = try store.regionDimension()
            #expect(stored == 3)
            do {
                _ = try CatalogParser.parse(
                    #"{"image":"b","keywords":[],"regions":[[1,2,3,4]]}"#,
                    expectedDimension: stored
                )
                Issue.record("a line with another D was accepted")
            } catch let error as CatalogLineError {
                #expect(error.code == "dimension_mismatch")
            }

            // The store refuses it too, and writes nothing of the batch.
            do {
                try store.upsert([
                    image("c", regions: [1, 2, 3], rows: 1), image("b", regions: [1, 2, 3, 4], rows: 1),
                ])
                Issue.record("a batch with two dimensions was accepted")
            } catch let error as CatalogStoreError {
                #expect(error.code == "dimension_mismatch")
            }
            do {
                try store.upsert([image("b", regions: [1, 2, 3, 4], rows: 1)])
                Issue.record("a D different from the stored catalog's was accepted")
            } catch let error as CatalogStoreError {
                #expect(error.code == "dimension_mismatch")
                #expect(error.message.contains("stored catalog's D is 3"))
            }
            do {
                try store.upsert([
                    CatalogImage(key: "x", keywords: [], regions: [1], regionCount: 1, regionDimension: 3)
                ])
                Issue.record("an image whose regions do not fill its shape was accepted")
            } catch let error as CatalogStoreError {
                #expect(error.code == "invalid_image")
            }
            #expect(try store.count() == 1)
        }
    }

    /// The revision advances with every committed change (insert, replace, delete), not with reads or a rolled-back
    /// change, and reading it reads no image row (`Migrations/0013_catalog_revision.sql`).
    @Test func revisionAdvancesWithEveryCommittedChangeAndReadsNoImage() async throws {
        let url = try TestPostgres.freshDatabase()
        try await blocking {
            let connection = try PostgresConnection.connect(url, logger: testLogger)
            defer { connection.close() }
            let store = CatalogStore(connection: connection)
            var seen = [try store.revision()]
            try store.upsert([image("a", regions: [1, 2], rows: 1), image("b", regions: [3, 4], rows: 1)])
            seen.append(try store.revision())
            #expect(try store.revision() == seen.last, "a read changes nothing")
            try store.upsert([image("a", keywords: ["blue car"], regions: [5, 6], rows: 1)])
            seen.append(try store.revision())

            struct RolledBack: Error {}
            #expect(throws: RolledBack.self) {
                try connection.transaction { connection in
                    try connection.execute("DELETE FROM images")
                    throw RolledBack()
                }
            }
            #expect(try store.revision() == seen.last, "a rolled-back change leaves the revision")
            #expect(try store.count() == 2)
            try connection.execute("DELETE FROM images WHERE image = 'b'")
            seen.append(try store.revision())
            #expect(Set(seen).count == seen.count, "\(seen)")

            // A session's table statistics count from its start until they are flushed, so a fresh session counts
            // only what reading the revision reads.
            let fresh = try PostgresConnection.connect(url, logger: testLogger)
            defer { fresh.close() }
            let reads = try fresh.transaction { connection in
                _ = try CatalogStore(connection: connection).revision()
                let row = try connection.query(
                    """
                    SELECT pg_stat_get_xact_numscans('images'::regclass),
                           pg_stat_get_xact_tuples_returned('images'::regclass),
                           pg_stat_get_xact_tuples_fetched('images'::regclass)
                    """
                )[0]
                return try (0..<3).map { try row.decode(Int64.self, column: $0) }
            }
            #expect(reads == [0, 0, 0], "scans, rows returned, rows fetched of images while reading the revision")
        }
    }

    private func timestamps(_ connection: PostgresConnection, _ key: String) throws -> (imported: Date, updated: Date) {
        let row = try connection.query("SELECT imported_at, updated_at FROM images WHERE image = \(key)")[0]
        return (try row.decode(Date.self, column: 0), try row.decode(Date.self, column: 1))
    }
}
