import Foundation
import Logging
import Postgres

/// What landed in PostgreSQL, for the demo's report.
struct DemoReport {
    var events = 0
    var pairs = 0
    var deadLetters: [(reason: String, count: Int, example: String)] = []
    var gaps = 0
    var offsets: [(partition: Int32, next: Int64)] = []
    var topPairs: [(query: String, image: String, clicks: Int64, relevance: Double, grade: Int)] = []
    var skipped: [(query: String, image: String, skips: Int64, relevance: Double)] = []

    static func load(databaseURL: String, logger: Logger) throws -> DemoReport {
        let connection = try PostgresConnection.connect(databaseURL, logger: logger)
        defer { connection.close() }
        var report = DemoReport()
        report.events = try connection.query("SELECT count(*) FROM click_events")[0].decode(Int.self, column: 0)
        report.pairs = try connection.query("SELECT count(*) FROM relevance_pairs")[0].decode(Int.self, column: 0)
        report.gaps = try connection.query("SELECT count(*) FROM ingest_gaps")[0].decode(Int.self, column: 0)
        for row in try connection.query(
            """
            SELECT reason_code, count(*), min(reason) FROM dead_letters GROUP BY reason_code ORDER BY 2 DESC, 1
            """
        ) {
            report.deadLetters.append(
                (
                    try row.decode(String.self, column: 0), try row.decode(Int.self, column: 1),
                    try row.decode(String.self, column: 2)
                )
            )
        }
        for row in try connection.query(
            "SELECT partition, next_offset FROM ingest_offsets WHERE topic = 'clicks' ORDER BY partition"
        ) {
            report.offsets.append((try row.decode(Int32.self, column: 0), try row.decode(Int64.self, column: 1)))
        }
        for row in try connection.query(
            "SELECT query, image, clicks, relevance, grade FROM relevance_labels ORDER BY relevance DESC, query LIMIT 8"
        ) {
            report.topPairs.append(
                (
                    try row.decode(String.self, column: 0), try row.decode(String.self, column: 1),
                    try row.decode(Int64.self, column: 2), try row.decode(Double.self, column: 3),
                    try row.decode(Int.self, column: 4)
                )
            )
        }
        for row in try connection.query(
            "SELECT query, image, skips, relevance FROM relevance_labels WHERE skips > 0 ORDER BY skips DESC, query LIMIT 4"
        ) {
            report.skipped.append(
                (
                    try row.decode(String.self, column: 0), try row.decode(String.self, column: 1),
                    try row.decode(Int64.self, column: 2), try row.decode(Double.self, column: 3)
                )
            )
        }
        return report
    }

    func render(produced: Int) -> String {
        var out = "\n== what landed ==\n"
        let dead = deadLetters.reduce(0) { $0 + $1.count }
        out += "messages replayed      \(produced)\n"
        out += "click events ingested  \(events)\n"
        out += "dead letters           \(dead)\n"
        out +=
            "accounted for          \(events + dead == produced ? "all \(produced) (events + dead letters)" : "MISMATCH: \(events + dead) of \(produced)")\n"
        out += "relevance pairs        \(pairs)\n"
        out += "lost offset ranges     \(gaps)\n"
        out += "stored offsets         " + offsets.map { "p\($0.partition)=\($0.next)" }.joined(separator: " ") + "\n"
        if !deadLetters.isEmpty {
            out += "\n-- dead letters by reason --\n"
            for letter in deadLetters {
                out +=
                    "  \(letter.reason.padding(toLength: 20, withPad: " ", startingAt: 0)) \(letter.count)   e.g. \(letter.example)\n"
            }
        }
        out += "\n-- most relevant pairs --\n"
        for pair in topPairs {
            out +=
                "  \(pair.query.padding(toLength: 32, withPad: " ", startingAt: 0)) \(pair.image)  clicks \(pair.clicks)  relevance \(String(format: "%.2f", pair.relevance))  grade \(pair.grade)\n"
        }
        if !skipped.isEmpty {
            out += "\n-- most skipped (shown above a click, not clicked) --\n"
            for pair in skipped {
                out +=
                    "  \(pair.query.padding(toLength: 32, withPad: " ", startingAt: 0)) \(pair.image)  skips \(pair.skips)  relevance \(String(format: "%.2f", pair.relevance))\n"
            }
        }
        return out
    }
}
