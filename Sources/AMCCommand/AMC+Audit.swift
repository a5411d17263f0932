import ArgumentParser
import ClickLog
import CommandSupport
import Foundation
import Learning
import Logging
import Postgres
import Provenance
import Registry

extension AMC {
    /// `amc audit`: provenance for operators (design §4, §7).
    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Explain a pair, a version or the activation history from what PostgreSQL recorded.",
            subcommands: [Pair.self, Version.self, Activations.self]
        )

        struct Pair: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "The events behind a (query, image) pair, its label history, the rankings its clicks came "
                    + "from, the versions that trained on it and its score under the active version."
            )
            @OptionGroup var options: GlobalOptions
            @Argument(help: "The query (normalised like ingest).") var query: String
            @Argument(help: "The image key.") var image: String
            @Flag(help: "One JSON object.") var json = false

            func run() async throws {
                let settings = try await options.resolve()
                let (query, image) = (QueryNormalizer.normalize(query), image)
                let provenance = try await withConnection(settings) { connection in
                    try ProvenanceStore(connection: connection).pair(query: query, image: image)
                }
                print(json ? try RegistryOutput.json(provenance) : Self.text(provenance))
            }

            static func text(_ p: PairProvenance) -> String {
                var lines = ["pair \"\(p.query)\" × \(p.image)"]
                guard let clicks = p.clicks else {
                    lines.append("  no such pair: no click for this image under this query has been ingested")
                    return lines.joined(separator: "\n")
                }
                lines.append(
                    "  evidence   \(clicks) clicks in \(p.clickEvents ?? 0) events, \(p.skips ?? 0) skips → relevance "
                        + "\(String(format: "%.3f", p.relevance ?? 0)), grade \(p.grade ?? 0)"
                )
                lines.append(
                    "  training   "
                        + (p.heldOut
                            ? "held out (the gate's slice; never trained on)"
                            : p.trainedBy.isEmpty
                                ? "no version has trained on it yet"
                                : "trained on by version(s) \(p.trainedBy.map { "\($0)" }.joined(separator: ", "))")
                )
                if p.removedEvents > 0 {
                    lines.append(
                        "  retention  \(p.removedEvents) events (\(p.removedClicks) clicks) "
                            + (p.removedBefore.map { "before \(RegistryOutput.format($0)) " } ?? "")
                            + "removed by retention; \(p.events.count) still stored (below, totals include the removed)"
                    )
                }
                if let version = p.activeVersion {
                    if let score = p.score {
                        lines.append(
                            "  serving    version \(version): score \(String(format: "%.4f", score)), visual weight "
                                + "\(String(format: "%.3f", p.visualWeight ?? 0)), language weight "
                                + "\(String(format: "%.3f", p.languageWeight ?? 0))"
                        )
                    } else {
                        lines.append("  serving    version \(version): the image is not in the catalog")
                    }
                }
                var rows = [
                    [
                        "event (topic/partition/offset)", "clicked at", "ingested at", "clicks", "position",
                        "clicks so far", "grade so far",
                    ]
                ]
                for e in p.events {
                    rows.append([
                        "\(e.topic)/\(e.partition)/\(e.offset)", RegistryOutput.format(e.eventTime),
                        RegistryOutput.format(e.ingestedAt), "\(e.clicks)", e.position.map { "\($0)" } ?? "-",
                        "\(e.clicksSoFar)", "\(e.gradeSoFar)",
                    ])
                }
                lines.append(
                    RegistryOutput.align(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
                )
                if !p.rankings.isEmpty { lines.append(contentsOf: rankingLines(p)) }
                return lines.joined(separator: "\n")
            }

            /// The rankings the pair's clicks came from: one row per ranking id its events named.
            static func rankingLines(_ p: PairProvenance) -> [String] {
                let attributed = p.rankings.filter(\.attributed)
                var summary =
                    "  rankings   \(attributed.reduce(0) { $0 + $1.events }) events from \(attributed.count) "
                    + "recorded ranking(s)"
                if p.unattributedEvents > 0 {
                    summary += "; \(p.unattributedEvents) unattributed (their ranking id matches no recorded ranking)"
                }
                var rows = [["ranking id", "version", "position", "team", "served at", "events", "clicks"]]
                for r in p.rankings {
                    rows.append([
                        r.ranking, r.version.map { "\($0)" } ?? "unattributed",
                        r.attributed ? (r.position.map { "\($0)" } ?? "not in it") : "-", r.team ?? "-",
                        r.servedAt.map(RegistryOutput.format) ?? "-", "\(r.events)", "\(r.clicks)",
                    ])
                }
                return [summary]
                    + RegistryOutput.align(rows).split(separator: "\n").map { "  " + $0 }
            }
        }

        struct Version: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "A version's lineage, training window, hyper-parameters, metrics and activations."
            )
            @OptionGroup var options: GlobalOptions
            @Argument(help: "The version number.") var version: Int64
            @Flag(help: "One JSON object.") var json = false

            func run() async throws {
                let settings = try await options.resolve()
                let number = version
                let detail = try await withRegistry(settings) { registry -> RegistryOutput.VersionDetail? in
                    guard let found = try registry.version(number) else { return nil }
                    var lineage = [found.version]
                    var parent = found.parent
                    while let next = parent, let record = try registry.version(next) {
                        lineage.append(record.version)
                        parent = record.parent
                    }
                    return RegistryOutput.VersionDetail(
                        found,
                        active: try registry.activeVersion(),
                        activations: try registry.activations().filter { $0.version == number },
                        lineage: lineage
                    )
                }
                guard let detail else { throw CommandError("model version \(number) does not exist") }
                print(json ? try RegistryOutput.json(detail) : RegistryOutput.text(detail))
            }
        }

        struct Activations: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Who activated which version, when and why.")
            @OptionGroup var options: GlobalOptions
            @Flag(help: "One JSON array.") var json = false

            func run() async throws {
                let settings = try await options.resolve()
                let activations = try await withRegistry(settings) { try $0.activations() }
                print(
                    json
                        ? try RegistryOutput.json(activations.map(RegistryOutput.ActivationRecord.init))
                        : RegistryOutput.activationsTable(activations)
                )
            }
        }
    }
}

/// Runs `body` on a fresh connection, off the cooperative pool; learner errors become one-line command errors.
func withConnection<T: Sendable>(
    _ settings: Settings,
    _ body: @escaping @Sendable (PostgresConnection) throws -> T
) async throws -> T {
    let url = try settings.databaseURL()
    return try await onBlockingThread {
        let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: Logger(label: "amc"))
        defer { connection.close() }
        do {
            return try body(connection)
        } catch let error where error is LearnerError || error is RegistryError {
            throw CommandError("\(error)")
        }
    }
}
