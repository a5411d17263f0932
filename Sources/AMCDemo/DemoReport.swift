import Foundation
import Ingest
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
        let store = IngestSummaryStore(connection: connection)
        (report.events, report.pairs, report.gaps) = try store.counts()
        report.deadLetters = try store.deadLetterReasons()
        report.offsets = try store.nextOffsets(topic: "clicks")
        report.topPairs = try store.mostRelevantPairs(limit: 8)
        report.skipped = try store.mostSkippedPairs(limit: 4)
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
