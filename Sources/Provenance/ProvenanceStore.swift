import Catalog
import Foundation
import Learning
import Model
import Postgres
import Registry

/// One click event behind a pair, with the pair's label right after it.
public struct PairEvent: Sendable, Hashable, Codable {
    /// Where the event was in Kafka.
    public var topic: String
    public var partition: Int
    public var offset: Int64
    /// When the click happened and when it landed.
    public var eventTime: Date
    public var ingestedAt: Date
    /// Clicks the event carried, and the position it was clicked at (JSON events only).
    public var clicks: Int64
    public var position: Int?
    /// The pair's running totals and label after this event (skips are not per event, so they are left out of
    /// the running label; the pair's current label below includes them).
    public var clicksSoFar: Int64
    public var relevanceSoFar: Double
    public var gradeSoFar: Int
    /// The `ranking_id` the event named (`"ranking"`), when it named one.
    public var ranking: String? = nil
}

/// A ranking some of a pair's events came from: what the worker that returned it recorded about the clicked image.
public struct PairRanking: Sendable, Hashable, Codable {
    /// The id the events named.
    public var ranking: String
    /// Whether a recorded ranking has that id. When false (never recorded, dropped, removed by retention, or another
    /// system's id) the fields below are nil and the events are ordinary, unattributed clicks.
    public var attributed: Bool
    /// The version that produced the ranking.
    public var version: Int64?
    /// The zero-based position the image had in it (nil when the ranking did not contain it).
    public var position: Int?
    /// The team that put the image there, under interleaving.
    public var team: String?
    /// The online experiment the ranking belonged to.
    public var experiment: Int64?
    /// When it was served.
    public var servedAt: Date?
    /// The pair's events that named it, and their clicks.
    public var events: Int64
    public var clicks: Int64
}

/// Everything recorded about one (query, image) pair: design §7's provenance for `amc audit pair`.
public struct PairProvenance: Sendable, Hashable, Codable {
    public var query: String
    public var image: String
    /// The pair's evidence and label now; nil when the pair does not exist.
    public var clicks: Int64?
    public var clickEvents: Int64?
    public var skips: Int64?
    public var relevance: Double?
    public var grade: Int?
    /// The events that made it and are still stored, oldest first.
    public var events: [PairEvent]
    /// Events (and their clicks) the pair counts but `click_events` no longer holds: removed by `amc retention`.
    /// The running totals in ``events`` count them as coming first.
    public var removedEvents: Int64 = 0
    public var removedClicks: Int64 = 0
    /// The end of the newest range retention removed: the removed events are all older. Nil when none was removed.
    public var removedBefore: Date?
    /// The rankings the pair's events named, attributed ones first in the order they were served.
    public var rankings: [PairRanking] = []
    /// Events that named a ranking no recorded ranking matches.
    public var unattributedEvents: Int64 = 0
    /// Versions whose training window included events of this pair (the query was not held out).
    public var trainedBy: [Int64]
    /// Whether the query is in the held-out slice of the active version's split (never trained on).
    public var heldOut: Bool
    /// The active version and the pair's score and modality weights under it (nil without a version, or when
    /// the image is not in the catalog).
    public var activeVersion: Int64?
    public var score: Double?
    public var visualWeight: Double?
    public var languageWeight: Double?
}

/// Reads provenance: which events made a pair, which versions trained on it, how the active version scores it.
public struct ProvenanceStore: Sendable {
    private let connection: PostgresConnection

    /// - Parameter connection: A connection to a migrated database.
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// The provenance of a pair (`query` must be normalised).
    public func pair(query: String, image: String) throws -> PairProvenance {
        let pairRow = try connection.query(
            """
            SELECT clicks, click_events, skips, relevance, grade FROM relevance_labels
            WHERE query = \(query) AND image = \(image)
            """
        ).first
        // Events `amc retention` removed are still counted by the pair: the difference is what was removed.
        let stored = try connection.query(
            """
            SELECT count(*), coalesce(sum(clicks), 0)::bigint FROM click_events
            WHERE query = \(query) AND image = \(image)
            """
        )[0]
        let pairClicks = try pairRow?.decode(Int64.self, column: 0) ?? 0
        let pairEvents = try pairRow?.decode(Int64.self, column: 1) ?? 0
        let storedEvents = try stored.decode(Int64.self, column: 0)
        let storedClicks = try stored.decode(Int64.self, column: 1)
        let removedEvents = max(0, pairEvents - storedEvents)
        let removedClicks = removedEvents == 0 ? 0 : max(0, pairClicks - storedClicks)
        let events = try connection.query(
            """
            SELECT topic, partition, "offset", event_time, ingested_at, clicks, position, ranking,
                   sum(clicks) OVER w + \(removedClicks),
                   amc_relevance(sum(clicks) OVER w + \(removedClicks), count(*) OVER w + \(removedEvents), 0),
                   amc_grade(amc_relevance(sum(clicks) OVER w + \(removedClicks), count(*) OVER w + \(removedEvents), 0))
            FROM click_events WHERE query = \(query) AND image = \(image)
            WINDOW w AS (ORDER BY ingested_at, event_time, topic, partition, "offset")
            ORDER BY ingested_at, event_time, topic, partition, "offset"
            """
        ).map { row in
            PairEvent(
                topic: try row.decode(String.self, column: 0),
                partition: try row.decode(Int.self, column: 1),
                offset: try row.decode(Int64.self, column: 2),
                eventTime: try row.decode(Date.self, column: 3),
                ingestedAt: try row.decode(Date.self, column: 4),
                clicks: try row.decode(Int64.self, column: 5),
                position: try row.decode(Int?.self, column: 6),
                clicksSoFar: try row.decode(Int64.self, column: 8),
                relevanceSoFar: try row.decode(Double.self, column: 9),
                gradeSoFar: try row.decode(Int.self, column: 10),
                ranking: try row.decode(String?.self, column: 7)
            )
        }
        let rankings = try self.rankings(query: query, image: image)
        // A version trained on the pair when one of its events is inside the version's window: visible in its
        // watermark and, for a fine-tuned version, not visible in its parent's.
        let trained = try connection.query(
            """
            SELECT v.version, v.hyperparameters ->> 'held_out_percent'
            FROM model_versions v LEFT JOIN model_versions p ON p.version = v.parent
            WHERE EXISTS (
                SELECT 1 FROM click_events e
                WHERE e.query = \(query) AND e.image = \(image)
                  AND pg_visible_in_snapshot(e.change_xid, v.watermark)
                  AND (p.version IS NULL OR NOT pg_visible_in_snapshot(e.change_xid, p.watermark))
            )
            ORDER BY v.version
            """
        )
        // Held out under a version's own split are never trained on by it.
        var trainedBy: [Int64] = []
        for row in trained {
            let percent = try row.decode(Int?.self, column: 1) ?? LearnerConfiguration().holdoutPercent
            if !TrainingData.isHeldOut(query, percent: percent) {
                trainedBy.append(try row.decode(Int64.self, column: 0))
            }
        }
        let registry = ModelRegistry(connection: connection)
        let active = try registry.activeVersion()
        let currentPercent =
            try active.flatMap { try registry.version($0)?.hyperparameters.heldOutPercent }
            ?? LearnerConfiguration().holdoutPercent
        var provenance = PairProvenance(
            query: query,
            image: image,
            clicks: try pairRow?.decode(Int64.self, column: 0),
            clickEvents: try pairRow?.decode(Int64.self, column: 1),
            skips: try pairRow?.decode(Int64.self, column: 2),
            relevance: try pairRow?.decode(Double.self, column: 3),
            grade: try pairRow?.decode(Int.self, column: 4),
            events: events,
            trainedBy: trainedBy,
            heldOut: TrainingData.isHeldOut(query, percent: currentPercent)
        )
        provenance.rankings = rankings
        provenance.unattributedEvents = rankings.filter { !$0.attributed }.reduce(0) { $0 + $1.events }
        if removedEvents > 0 {
            provenance.removedEvents = removedEvents
            provenance.removedClicks = removedClicks
            provenance.removedBefore = try connection.query("SELECT max(removed_before) FROM retention_runs")[0]
                .decode(Date?.self, column: 0)
        }
        if let active {
            provenance.activeVersion = active
            let model = try registry.model(of: active)
            let images = try CatalogStore(connection: connection).images(keys: [image])
            let table = ImageFeatureTable(images: images, hashBuckets: model.hashBuckets)
            if let features = table[image], features.regions.count == features.regionCount * model.regionDimension {
                let scored = model.score(query: query, images: [features])[0]
                provenance.score = Double(scored.score)
                provenance.visualWeight = Double(scored.visualWeight)
                provenance.languageWeight = Double(scored.languageWeight)
            }
        }
        return provenance
    }

    /// The rankings the pair's events named, resolved through `click_attributions`.
    private func rankings(query: String, image: String) throws -> [PairRanking] {
        try connection.query(
            """
            SELECT ranking, bool_or(attributed), max(model_version), min(ranked_position), min(team),
                   max(experiment), min(served_at), count(*), sum(clicks)::bigint
            FROM click_attributions WHERE query = \(query) AND image = \(image)
            GROUP BY ranking
            ORDER BY min(served_at) NULLS LAST, min(event_time), ranking
            """
        ).map { row in
            PairRanking(
                ranking: try row.decode(String.self, column: 0),
                attributed: try row.decode(Bool.self, column: 1),
                version: try row.decode(Int64?.self, column: 2),
                position: try row.decode(Int?.self, column: 3),
                team: try row.decode(String?.self, column: 4),
                experiment: try row.decode(Int64?.self, column: 5),
                servedAt: try row.decode(Date?.self, column: 6),
                events: try row.decode(Int64.self, column: 7),
                clicks: try row.decode(Int64.self, column: 8)
            )
        }
    }
}
