extension QueryNormalizer {
    /// Normalises a query and checks it with the rules ingest applies to a click's query: not empty after
    /// normalisation, no control characters (NUL and the other C0/C1 controls; whitespace such as tab and line feed
    /// is collapsed first), at most `maxBytes` UTF-8 bytes after normalisation.
    /// - Parameters:
    ///   - raw: The query as given.
    ///   - field: The field's name, for the error.
    ///   - maxBytes: The longest normalised query accepted, in UTF-8 bytes.
    /// - Returns: The normalised query.
    /// - Throws: A ``ClickLogError`` (``ClickLogError/Reason/emptyQuery``, ``ClickLogError/Reason/invalidQuery`` or
    ///   ``ClickLogError/Reason/queryTooLong``) whose detail names `field`.
    public static func validated(
        _ raw: some StringProtocol,
        field: String,
        maxBytes: Int
    ) throws(ClickLogError) -> String {
        let query = normalize(raw)
        guard !query.isEmpty else { throw ClickLogError(.emptyQuery, "\(field) is empty after normalisation") }
        for scalar in query.unicodeScalars where scalar.properties.generalCategory == .control {
            throw ClickLogError(
                .invalidQuery,
                "\(field) contains the control character U+\(String(scalar.value, radix: 16, uppercase: true))"
            )
        }
        guard query.utf8.count <= maxBytes else {
            throw ClickLogError(
                .queryTooLong,
                "\(field) is \(query.utf8.count) bytes after normalisation (limit \(maxBytes))"
            )
        }
        return query
    }
}
