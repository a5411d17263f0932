import ClickLog

// MARK: - Serialisation (design §3); the caller writes the text to files.

extension World {
    /// The catalog as JSON Lines in the compact form: `{"image", "keywords", "regions_b64", "shape": [R, D]}`.
    /// - Returns: One line per image, each ending in `\n`.
    public func catalogJSONL() -> String {
        var out = ""
        let shape = "[\(configuration.regions),\(configuration.dimension)]"
        for image in images {
            out += "{\"image\":" + JSONStringLiteral.quoted(image.key) + ",\"keywords\":["
            out += image.keywords.map(JSONStringLiteral.quoted).joined(separator: ",")
            out += "],\"regions_b64\":\"" + Base64.encode(littleEndian: image.regions) + "\",\"shape\":" + shape
            out += "}\n"
        }
        return out
    }

    /// A click stream in Clickture triad form: `image_key \t query \t click_count`.
    /// - Parameter clicks: A stream from ``clicks(shifted:)``.
    /// - Returns: One line per triad, each ending in `\n`.
    public func clicksTSV(_ clicks: SimulatedClicks) -> String {
        var out = ""
        for triad in clicks.triads {
            out +=
                images[triad.image].key + "\t" + trainingQueries[triad.query].text + "\t" + String(triad.clicks) + "\n"
        }
        return out
    }

    /// The held-out labels in `DevSetLabel.tsv` form: `query \t image_key \t Excellent|Good|Bad`.
    /// - Parameter shifted: Label the queries of shifting concepts by their shifted (textual) intent
    ///   (``shiftedLabel(image:concept:)``); the same candidates either way.
    /// - Returns: One line per candidate, each ending in `\n`.
    public func devLabelsTSV(shifted: Bool = false) -> String {
        var out = ""
        for query in heldOutQueries {
            let relabel = shifted && concepts[query.concept].shifts
            for candidate in query.candidates {
                let label = relabel ? shiftedLabel(image: candidate.image, concept: query.concept) : candidate.label
                out += query.text + "\t" + images[candidate.image].key + "\t" + label.rawValue + "\n"
            }
        }
        return out
    }

    /// A click stream as JSON events with impressions: one click per line, with the page shown, the clicked
    /// position and an RFC 3339 timestamp (session `n` starts at 2026-01-01T00:00:00Z plus `n` minutes).
    /// - Parameter clicks: A stream from ``clicks(shifted:)``.
    /// - Returns: One line per click, each ending in `\n`.
    public func clickEventsJSONL(_ clicks: SimulatedClicks) -> String {
        var out = ""
        var impressionCache: [Int: String] = [:]
        for event in clicks.events {
            let query = trainingQueries[event.query]
            let impressions =
                impressionCache[event.query]
                ?? "[" + query.shown.map { JSONStringLiteral.quoted(images[$0].key) }.joined(separator: ",") + "]"
            impressionCache[event.query] = impressions
            out +=
                "{\"query\":" + JSONStringLiteral.quoted(query.text) + ",\"image\":"
                + JSONStringLiteral.quoted(images[event.image].key)
            out += ",\"clicks\":1,\"position\":" + String(event.position) + ",\"impressions\":" + impressions
            out += ",\"ts\":\"" + Self.timestamp(minutes: event.session) + "\"}\n"
        }
        return out
    }

    /// `2026-01-01T00:00:00Z` plus `minutes`, in RFC 3339 (UTC).
    static func timestamp(minutes: Int) -> String {
        let start: Int64 = 1_767_225_600  // 2026-01-01T00:00:00Z
        return RFC3339.format(micros: (start + Int64(minutes) * 60) * 1_000_000)
    }
}
