/// A parsed relevance-label file in Clickture's `DevSetLabel.tsv` form: `query \t image_key \t grade` per line,
/// with grade `Excellent`, `Good` or `Bad` (design §3).
///
/// Parsing never fails as a whole: each bad line is listed in ``rejected`` and the good ones are kept.
/// - Lines end in `\n` (a `\r` before it is removed). Empty and whitespace-only lines are ignored. A UTF-8
///   byte-order mark at the start of a line (a file saved with one) is ignored.
/// - Each line must be valid UTF-8 on its own; a line that is not is rejected, the others are kept.
/// - A line must have exactly three tab-separated fields. Spaces around the image key and the grade are
///   removed; the grade is then matched exactly (``RelevanceGrade/init(label:)``).
/// - The query goes through `normalizeQuery`; a query that normalises to nothing, or that still contains a
///   control character (NUL, which PostgreSQL cannot store in text, and the other C0/C1 controls), is rejected.
/// - The image key must be non-empty and contain no whitespace or control characters.
/// - A repeated (query, image) pair keeps its first position and takes the last line's grade.
public struct LabelFile: Sendable {
    /// The labelled queries, in order of first appearance; images within a query in order of first appearance.
    public var queries: [JudgedQuery]
    /// The lines that were not used: 1-based line number and a reason.
    public var rejected: [(line: Int, reason: String)]

    /// Parses label-file text.
    /// - Parameters:
    ///   - text: The whole file.
    ///   - normalizeQuery: Applied to each query before grouping (pass `ClickLog.QueryNormalizer.normalize` to
    ///     match normalised click-log queries). Default: the identity.
    public init(parsing text: String, normalizeQuery: (String) -> String = { $0 }) {
        self.init(parsing: Array(text.utf8), normalizeQuery: normalizeQuery)
    }

    /// Parses the bytes of a label file (the rules above), line by line: a line
    /// that is not valid UTF-8 is rejected on its own.
    /// - Parameters:
    ///   - bytes: The whole file.
    ///   - normalizeQuery: Applied to each query before grouping. Default: the identity.
    public init(parsing bytes: [UInt8], normalizeQuery: (String) -> String = { $0 }) {
        var queries: [JudgedQuery] = []
        var rejected: [(line: Int, reason: String)] = []
        var queryIndex: [String: Int] = [:]
        var imageIndex: [[String: Int]] = []

        var lineNumber = 0
        for rawLine in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = rawLine[...]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.starts(with: [0xEF, 0xBB, 0xBF]) { line = line.dropFirst(3) }
            if line.allSatisfy(Self.isASCIIWhitespace) { continue }
            guard let text = String(validating: line, as: UTF8.self) else {
                rejected.append((line: lineNumber, reason: "the line is not valid UTF-8"))
                continue
            }
            switch Self.parseLine(text.utf8[...], normalizeQuery: normalizeQuery) {
            case .failure(let problem):
                rejected.append((line: lineNumber, reason: problem.reason))
            case .success(let (query, image, grade)):
                let position: Int
                if let existing = queryIndex[query] {
                    position = existing
                } else {
                    position = queries.count
                    queryIndex[query] = position
                    queries.append(JudgedQuery(query: query, images: [], gains: []))
                    imageIndex.append([:])
                }
                if let existing = imageIndex[position][image] {
                    queries[position].gains[existing] = grade.gain
                } else {
                    imageIndex[position][image] = queries[position].images.count
                    queries[position].images.append(image)
                    queries[position].gains.append(grade.gain)
                }
            }
        }
        self.queries = queries
        self.rejected = rejected
    }

    // MARK: - Internals

    private struct Problem: Error {
        var reason: String
    }

    private static func parseLine(
        _ line: Substring.UTF8View.SubSequence,
        normalizeQuery: (String) -> String
    ) -> Result<(String, String, RelevanceGrade), Problem> {
        let fields = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
        guard fields.count == 3 else {
            return .failure(
                Problem(reason: "expected 3 tab-separated fields (query, image, grade), found \(fields.count)")
            )
        }
        let query = normalizeQuery(String(decoding: fields[0], as: UTF8.self))
        guard !query.isEmpty else { return .failure(Problem(reason: "empty query")) }
        for scalar in query.unicodeScalars where scalar.properties.generalCategory == .control {
            let code = String(scalar.value, radix: 16, uppercase: true)
            return .failure(
                Problem(
                    reason:
                        "query contains the control character U+\(String(repeating: "0", count: max(0, 4 - code.count)))\(code)"
                )
            )
        }
        let image = String(decoding: trimmed(fields[1]), as: UTF8.self)
        guard !image.isEmpty else { return .failure(Problem(reason: "empty image key")) }
        for scalar in image.unicodeScalars
        where scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
            return .failure(Problem(reason: "image key contains whitespace or control characters"))
        }
        let label = String(decoding: trimmed(fields[2]), as: UTF8.self)
        guard let grade = RelevanceGrade(label: label) else {
            let shown = label.count > 40 ? String(label.prefix(40)) + "…" : label
            return .failure(Problem(reason: "unknown grade '\(shown)' (expected Excellent, Good or Bad)"))
        }
        return .success((query, image, grade))
    }

    private static func trimmed<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> C.SubSequence {
        var slice = bytes[...]
        while let first = slice.first, isASCIIWhitespace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isASCIIWhitespace(last) { slice = slice.dropLast() }
        return slice
    }

    private static func isASCIIWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }
}
