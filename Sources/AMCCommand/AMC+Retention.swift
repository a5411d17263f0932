import ArgumentParser
import CommandSupport
import Foundation
import Learning
import Provenance

extension AMC {
    /// `amc retention`: monthly partitions of `click_events` ahead of time, and whole old partitions removed,
    /// never events a protected version's audit needs (`Docs/retention.md`).
    struct Retention: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create click_events partitions ahead of time and drop whole monthly partitions older than "
                + "the keep period, never events the active version's audit needs; every run is recorded."
        )
        @OptionGroup var options: GlobalOptions
        @Option(help: "How long events are kept: 36h, 90d, 26w (key retention.keep). Default: 180d.")
        var keep: String?
        @Option(help: "Monthly partitions created ahead of this month (key retention.months-ahead). Default: 3.")
        var monthsAhead: Int?
        @Flag(help: "Only print what would be created and dropped; change and record nothing.") var dryRun = false
        @Option(help: "Who (default: $USER).") var actor: String?
        @Flag(help: "One JSON object.") var json = false

        func validate() throws {
            if let keep { _ = try Self.seconds(keep) }
            guard actor?.isEmpty != true else { throw ValidationError("--actor must not be empty") }
        }

        func run() async throws {
            var flags = FlagValues()
            flags.set("retention.keep", keep, flag: "--keep")
            flags.set("retention.months-ahead", monthsAhead, flag: "--months-ahead")
            let settings = try await options.resolve(extra: flags)
            let keep = try settings.reader.string(forKey: "retention.keep", default: "180d")
            let monthsAhead = try settings.reader.int(
                forKey: "retention.months-ahead",
                default: 3,
                bounds: .within(0...120)
            )
            let seconds: TimeInterval
            do {
                seconds = try Self.seconds(keep)
            } catch {
                throw CommandError("retention.keep '\(keep)' is not a duration such as 180d")
            }
            let policy = RetentionPolicy(keep: keep, keepSeconds: seconds, monthsAhead: monthsAhead)
            let (dryRun, actor) = (dryRun, actor ?? Operator.defaultActor)
            let report = try await withConnection(settings) { connection in
                try RetentionStore(connection: connection).run(policy, dryRun: dryRun, actor: actor)
            }
            print(json ? try RegistryOutput.json(report) : Self.text(report))
        }

        /// A duration: a whole number and a unit, `s`, `m`, `h`, `d` or `w`.
        static func seconds(_ text: String) throws -> TimeInterval {
            if let seconds = DurationArgument.seconds(text) { return seconds }
            throw ValidationError("--keep must be a duration such as 90d (units s, m, h, d, w)")
        }

        static func text(_ r: RetentionReport) -> String {
            var lines = [
                (r.dryRun ? "dry run (nothing changed): " : "")
                    + "keep \(r.keep): cutoff \(RegistryOutput.format(r.cutoff))"
                    + (r.heldBack ? " (held back from \(RegistryOutput.format(r.requestedCutoff)))" : "")
            ]
            if let p = r.protected {
                lines.append(
                    (r.heldBack ? "held back by version \(p.version)" : "protected by version \(p.version)")
                        + ": events from \(RegistryOutput.format(p.from)) are kept — \(p.reason)"
                )
            } else {
                lines.append("no version needs any stored event (no active version)")
            }
            lines.append(
                r.partitionsCreated.isEmpty
                    ? "partitions: none \(r.dryRun ? "to create" : "created")"
                    : "\(r.dryRun ? "would create" : "created") \(r.partitionsCreated.count) partition(s): "
                        + r.partitionsCreated.joined(separator: ", ")
            )
            if r.partitionsDropped.isEmpty {
                lines.append(
                    "no partition ends before the cutoff: nothing \(r.dryRun ? "would be removed" : "removed")"
                )
            } else {
                lines.append(
                    "\(r.dryRun ? "would drop" : "dropped") \(r.partitionsDropped.count) partition(s), "
                        + "\(r.eventsRemoved) event(s):"
                )
                var rows = [["partition", "from", "to", "events"]]
                for p in r.partitionsDropped {
                    rows.append([p.name, RegistryOutput.format(p.from), RegistryOutput.format(p.to), "\(p.events)"])
                }
                lines.append(
                    RegistryOutput.align(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
                )
            }
            if let before = r.rankingsCutoff {
                lines.append(
                    "\(r.dryRun ? "would remove" : "removed") \(r.rankingsRemoved) recorded ranking(s) served before "
                        + RegistryOutput.format(before)
                )
            }
            if let run = r.run { lines.append("recorded as retention run \(run)") }
            return lines.joined(separator: "\n")
        }
    }
}
