import ArgumentParser
import Foundation
import Postgres
import TestSupport
import Testing

@testable import AMCCommand

/// `amc model shadow` and `amc model interleave` as `AMC.parseAsRoot` reads them and as they run against a real
/// database: a start records the experiment with actor, reason and share, stops the running one of its kind, and
/// refuses an unknown or active version; `--stop` stops it.
@Suite(.timeLimit(.minutes(8)))
struct ExperimentCommandTests {
    @Test func parsingDefaultsAndRefusals() throws {
        let shadow = try #require(try AMC.parseAsRoot(["model", "shadow", "3"]) as? AMC.ModelCommand.Shadow)
        #expect(shadow.version == 3 && shadow.sample == nil && !shadow.stop && shadow.actor == nil)
        let set = try #require(
            try AMC.parseAsRoot(["model", "interleave", "4", "--share", "0.5", "--actor", "me", "--reason", "why"])
                as? AMC.ModelCommand.Interleave
        )
        #expect(set.version == 4 && set.share == 0.5 && set.actor == "me" && set.reason == "why")
        let stop = try #require(try AMC.parseAsRoot(["model", "interleave", "--stop"]) as? AMC.ModelCommand.Interleave)
        #expect(stop.stop && stop.version == nil)
        #expect(AMC.ModelCommand.Shadow.defaultSample == 0.1 && AMC.ModelCommand.Interleave.defaultShare == 0.1)

        #expect(failure(["model", "shadow"]).contains("give the candidate version to start, or --stop"))
        #expect(failure(["model", "shadow", "1", "--stop"]).contains("not both"))
        #expect(failure(["model", "shadow", "--stop", "--sample", "0.5"]).contains("--sample starts an experiment"))
        #expect(failure(["model", "interleave", "1", "--share", "0"]).contains("--share must be in (0, 1], got 0.0"))
        #expect(failure(["model", "interleave", "1", "--share", "1.5"]).contains("--share must be in (0, 1]"))
        #expect(failure(["model", "interleave", "0"]).contains("the version must be at least 1"))
    }

    @Test func experimentsAreStartedReplacedAndStoppedAgainstARealDatabase() async throws {
        let registry = try await RegistryDatabase(bootstraps: 2)
        defer { registry.remove() }
        let common = registry.common
        // Version 2 is active; version 1 is the candidate.
        let started = try await run(["model", "shadow", "1", "--sample", "0.25", "--actor", "alice", "--reason", "a"])
        #expect(started.hasPrefix("started shadow experiment 1 of version 1 on a share of 0.25"), "\(started)")
        #expect(started.hasSuffix("announced on amc_experiments_changed"))
        let interleaved = try await run(["model", "interleave", "1", "--actor", "bob"])
        #expect(interleaved.hasPrefix("started interleave experiment 2 of version 1 on a share of 0.1 "))
        let replaced = try await run(["model", "shadow", "1", "--actor", "carol", "--reason", "more"])
        #expect(replaced.contains("; stopped shadow experiment 1 of version 1;"), "\(replaced)")

        let rows = try registry.rows(
            """
            SELECT id || ' ' || kind || ' ' || candidate_version || ' ' || share || ' ' || started_by || ' '
                   || reason || ' ' || coalesce(stopped_by, '-') || ' ' || coalesce(stop_reason, '-')
            FROM online_experiments ORDER BY id
            """
        )
        #expect(
            rows == [
                "1 shadow 1 0.25 alice a carol replaced by a new shadow experiment",
                "2 interleave 1 0.1 bob started by an operator - -",
                "3 shadow 1 0.1 carol more - -",
            ]
        )

        // The active version and an unknown one are refused, and nothing is recorded for them.
        #expect(try await failure(running: ["model", "shadow", "2"] + common).contains("is the active version"))
        #expect(try await failure(running: ["model", "interleave", "7"] + common) == "model version 7 does not exist")
        let stopped = try await run(["model", "interleave", "--stop", "--actor", "dave", "--reason", "enough"])
        #expect(stopped == "stopped interleave experiment 2 of version 1; announced on amc_experiments_changed")
        #expect(
            try await failure(running: ["model", "interleave", "--stop"] + common)
                == "no interleave experiment is running"
        )
        #expect(
            try registry.rows("SELECT kind || ' ' || id FROM online_experiments WHERE stopped_at IS NULL")
                == ["shadow 3"]
        )
        #expect(try registry.count("SELECT count(*) FROM online_experiments") == 3)

        // `amc model show` lists a version's experiments, running or stopped.
        let show = try await amc(["model", "show", "1", "--json"] + common)
        #expect(show.status == 0, "\(show.stderr)")
        let detail = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        let experiments = try #require(detail["experiments"] as? [[String: Any]])
        #expect(experiments.compactMap { $0["id"] as? Int } == [1, 2, 3])
        #expect(experiments.map { $0["stopped_by"] as? String } == ["carol", "dave", nil])
        #expect(experiments.compactMap { $0["kind"] as? String } == ["shadow", "interleave", "shadow"])
        let text = try await amc(["model", "show", "1"] + common)
        #expect(text.stdout.contains("  experiment       shadow 3 on 0.1 of requests, started "), "\(text.stdout)")
        #expect(text.stdout.contains("by carol: more; running\n"), "\(text.stdout)")
        #expect(text.stdout.contains("by dave: enough\n"), "\(text.stdout)")

        // The executable prints the same line and exits 0; a refusal is one line on stderr and a non-zero status.
        let printed = try await amc(["model", "shadow", "--stop", "--actor", "erin"] + common)
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(printed.stdout == "stopped shadow experiment 3 of version 1; announced on amc_experiments_changed\n")
        let refused = try await amc(["model", "shadow", "2"] + common)
        #expect(refused.status != 0)
        #expect(refused.stderr.hasPrefix("Error: model version 2 is the active version"), "\(refused.stderr)")

        /// Parses `arguments` (plus the database options) and runs the command in this process.
        func run(_ arguments: [String]) async throws -> String {
            try await ExperimentCommandTests.run(arguments + common)
        }
    }

    // MARK: - Helpers

    /// Parses and runs a shadow or interleave command in this process; returns the line it prints.
    static func run(_ arguments: [String]) async throws -> String {
        let parsed = try AMC.parseAsRoot(arguments)
        if let shadow = parsed as? AMC.ModelCommand.Shadow { return try await shadow.perform() }
        return try await #require(parsed as? AMC.ModelCommand.Interleave).perform()
    }

    /// The message `amc` prints for `arguments` that do not parse, or "" when they do.
    private func failure(_ arguments: [String]) -> String {
        do {
            _ = try AMC.parseAsRoot(arguments)
            return ""
        } catch {
            return AMC.message(for: error)
        }
    }

    /// The error line of a command that parses but fails when run.
    private func failure(running arguments: [String]) async throws -> String {
        do {
            _ = try await Self.run(arguments)
            return ""
        } catch {
            return "\(error)"
        }
    }
}

extension RegistryDatabase {
    /// The first column of every row, as text.
    func rows(_ sql: PostgresQuery) throws -> [String] {
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        return try connection.query(sql).map { try $0.decode(String.self, column: 0) }
    }
}
