/// One validated click, in the normalised form every later stage relies on.
///
/// Produced by ``ClickLogParser`` from either the Clickture triad form (`image_key \t query \t click_count`)
/// or the JSON form of design §3. Strings are already normalised: `query` by ``QueryNormalizer``, `image` trimmed.
public struct ClickEvent: Sendable, Hashable {
    /// The wire form the event arrived in.
    public enum Form: String, Sendable, Hashable {
        case triad
        case json
    }

    /// Normalised query (NFKC, lower-cased, whitespace collapsed and trimmed).
    public var query: String
    /// The clicked image's key.
    public var image: String
    /// Number of clicks this event reports (≥ 1).
    public var clicks: Int32
    /// Zero-based rank at which the clicked image was shown, when known.
    public var position: Int32?
    /// Event time in microseconds since the Unix epoch, when the event carried one (`ts`).
    public var timestampMicros: Int64?
    /// The images shown for the query, in rank order, when the event carried them.
    public var impressions: [String]?
    /// Opaque session identifier, when given.
    public var session: String?
    /// The `ranking_id` of the scoring response the click came from, when given (`"ranking"`): attributes the click
    /// to the version that ranked it. Any non-empty string; one that names no recorded ranking is an ordinary click.
    public var ranking: String?
    /// The form the event was parsed from.
    public var form: Form

    public init(
        query: String,
        image: String,
        clicks: Int32,
        position: Int32? = nil,
        timestampMicros: Int64? = nil,
        impressions: [String]? = nil,
        session: String? = nil,
        ranking: String? = nil,
        form: Form
    ) {
        self.query = query
        self.image = image
        self.clicks = clicks
        self.position = position
        self.timestampMicros = timestampMicros
        self.impressions = impressions
        self.session = session
        self.ranking = ranking
        self.form = form
    }

    /// Images shown above the clicked one and not clicked in this event: the "skip-above" evidence of the
    /// cascade click model, each image once (in order of first appearance) however often the list repeats it,
    /// and never the clicked image itself. Empty when the event has no impressions or the clicked image was not
    /// among them.
    public var skippedAbove: [String] {
        let above = shownAbove
        guard !above.isEmpty else { return [] }
        if above.count <= 32 {
            var result: [String] = []
            result.reserveCapacity(above.count)
            for key in above where key != image && !result.contains(key) { result.append(key) }
            return result
        }
        var seen: Set<String> = [image]
        return above.filter { seen.insert($0).inserted }
    }

    /// The impressions above the clicked one, as listed (repeats included).
    private var shownAbove: ArraySlice<String> {
        guard let impressions else { return [] }
        let clickedRank: Int
        if let position, impressions.indices.contains(Int(position)), impressions[Int(position)] == image {
            clickedRank = Int(position)
        } else if let index = impressions.firstIndex(of: image) {
            clickedRank = index
        } else {
            return []
        }
        return impressions[..<clickedRank]
    }
}
