import ArgumentParser
import ClickLog
import CommandSupport
import Foundation
import Ingest
import Postgres

extension AMC {
    /// `amc deadletters`: inspect, replay and purge what ingest refused (`Docs/deadletters.md`).
    struct DeadLetters: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "deadletters",
            abstract: "List, inspect, replay (with the current parser, exactly once) and purge dead letters.",
            subcommands: [List.self, Show.self, Replay.self, Purge.self]
        )

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Dead letters, newest first.")
            @OptionGroup var options: GlobalOptions
            @Option(help: "Only this state: pending, replayed, duplicate or all.") var state = "pending"
            @Option(help: "Only this reason code (e.g. invalid_click_count).") var reason: String?
            @Option(help: "Only this topic.") var topic: String?
            @Option(help: "Most rows shown.") var limit = 50
            @Flag(help: "One JSON array.") var json = false

            func validate() throws {
                guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
                _ = try DeadLetterOutput.state(state)
            }

            func run() async throws {
                let settings = try await options.resolve()
                let filter = DeadLetterFilter(
                    state: try DeadLetterOutput.state(state),
                    reasonCode: reason,
                    topic: topic
                )
                let limit = limit
                let (letters, total) = try await withConnection(settings) { connection in
                    let store = DeadLetterStore(connection: connection)
                    return (try store.list(filter, limit: limit), try store.count(filter))
                }
                print(
                    json
                        ? try RegistryOutput.json(letters.map(DeadLetterOutput.Summary.init))
                        : DeadLetterOutput.table(letters, total: total, filter: filter)
                )
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "One dead letter in full: position, reason, the raw bytes (printed safely) and its "
                    + "action history (also after it was purged)."
            )
            @OptionGroup var options: GlobalOptions
            @Argument(help: "The dead letter id.") var id: Int64
            @Flag(help: "One JSON object.") var json = false

            func run() async throws {
                let settings = try await options.resolve()
                let id = id
                let (detail, actions) = try await withConnection(settings) { connection in
                    let store = DeadLetterStore(connection: connection)
                    return (try store.detail(id), try store.actions(of: id))
                }
                guard detail != nil || !actions.isEmpty else {
                    throw CommandError("dead letter \(id) does not exist")
                }
                let shown = DeadLetterOutput.Detail(id: id, detail: detail, actions: actions)
                print(json ? try RegistryOutput.json(shown) : DeadLetterOutput.text(shown))
            }
        }

        struct Replay: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Re-validate dead letters with the current parser and ingest those now valid, exactly once; "
                    + "every attempt is recorded."
            )
            @OptionGroup var options: GlobalOptions
            @Option(name: .customLong("id"), help: "A dead letter to replay (repeatable).") var ids: [Int64] = []
            @Flag(help: "Replay every pending dead letter (narrow with --reason and --topic).") var all = false
            @Option(help: "With --all: only this reason code.") var reason: String?
            @Option(help: "With --all: only this topic.") var topic: String?
            @Option(help: "Dead letters per transaction.") var batchSize = 1000
            @Option(help: "Who (default: $USER).") var actor: String?
            @Flag(help: "One JSON object.") var json = false

            func validate() throws {
                guard all != !ids.isEmpty else { throw ValidationError("pass either --id ID (repeatable) or --all") }
                guard all || (reason == nil && topic == nil) else {
                    throw ValidationError("--reason and --topic narrow --all; with --id, name the dead letters")
                }
                guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
                guard actor?.isEmpty != true else { throw ValidationError("--actor must not be empty") }
            }

            func run() async throws {
                let settings = try await options.resolve()
                let selection: DeadLetterReplaySelection =
                    all ? .pending(DeadLetterFilter(reasonCode: reason, topic: topic)) : .ids(ids)
                let (actor, batchSize) = (actor ?? Operator.defaultActor, batchSize)
                let report = try await withConnection(settings) { connection in
                    try DeadLetterStore(connection: connection).replay(selection, actor: actor, batchSize: batchSize)
                }
                print(
                    json
                        ? try RegistryOutput.json(DeadLetterOutput.ReplaySummary(report))
                        : DeadLetterOutput.text(report)
                )
                let missing = report.results.filter { $0.outcome == .notFound }.map { "\($0.id)" }
                if !missing.isEmpty {
                    throw CommandError("no dead letter with id \(missing.joined(separator: ", "))")
                }
            }
        }

        struct Purge: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Delete resolved dead letters received before a time (a dry run unless --yes); every "
                    + "deleted row is recorded, its history kept."
            )
            @OptionGroup var options: GlobalOptions
            @Option(help: "An RFC 3339 time (2026-01-31T00:00:00Z) or an age: 90m, 12h, 30d, 2w.") var before: String
            @Flag(help: "Also delete pending dead letters (bad input given up on), not only resolved ones.")
            var includePending = false
            @Flag(help: "Delete; without it, only print what would be deleted.") var yes = false
            @Option(help: "Who (default: $USER).") var actor: String?
            @Flag(help: "One JSON object.") var json = false

            func validate() throws {
                _ = try DeadLetterOutput.cutoff(before, now: Date())
                guard actor?.isEmpty != true else { throw ValidationError("--actor must not be empty") }
            }

            func run() async throws {
                let settings = try await options.resolve()
                let cutoff = try DeadLetterOutput.cutoff(before, now: Date())
                let (includePending, yes, actor) = (includePending, yes, actor ?? Operator.defaultActor)
                let summary = try await withConnection(settings) { connection in
                    let store = DeadLetterStore(connection: connection)
                    return yes
                        ? try store.purge(before: cutoff, includePending: includePending, actor: actor)
                        : try store.purgePreview(before: cutoff, includePending: includePending)
                }
                let purge = DeadLetterOutput.PurgeSummary(
                    summary,
                    before: cutoff,
                    includePending: includePending,
                    dryRun: !yes
                )
                print(json ? try RegistryOutput.json(purge) : DeadLetterOutput.text(purge))
            }
        }
    }
}
