import ClickLog

extension SimulatedUsers {
    /// A click as a JSON click event (design §3): `query`, `image`, `clicks` (1), `ts`, `position`, `impressions`
    /// (the page shown, in order), `session`, and `ranking` when the scorer's response had a `ranking_id`.
    /// - Parameters:
    ///   - click: The click.
    ///   - visit: The visit it happened in.
    ///   - page: The image keys shown.
    ///   - ranking: The response's `ranking_id`, if it had one.
    ///   - timestampMicros: When the click happened, microseconds since the Unix epoch.
    /// - Returns: One line without a trailing newline.
    public static func eventJSON(
        _ click: PageClick,
        visit: Visit,
        page: [String],
        ranking: String?,
        timestampMicros: Int64
    ) -> String {
        var out = "{\"query\":" + JSONStringLiteral.quoted(visit.text)
        out += ",\"image\":" + JSONStringLiteral.quoted(click.image)
        out += ",\"clicks\":1,\"ts\":\"" + RFC3339.format(micros: timestampMicros) + "\""
        out += ",\"position\":" + String(click.position)
        out += ",\"impressions\":[" + page.map(JSONStringLiteral.quoted).joined(separator: ",") + "]"
        out += ",\"session\":" + JSONStringLiteral.quoted(visit.session)
        if let ranking { out += ",\"ranking\":" + JSONStringLiteral.quoted(ranking) }
        return out + "}"
    }
}
