import Foundation
import TestSupport
import Testing

/// The command line as a new user meets it: help that reads well, global options before the subcommand, negative
/// numbers read as values and refused by the option's own check.
@Suite(.timeLimit(.minutes(8)))
struct CommandLineHelpTests {
    /// Every command path (`""`, `"model"`, `"model list"`, …), found from the help's SUBCOMMANDS sections.
    private func commandPaths(_ path: [String] = []) async throws -> [[String]] {
        let help = try await amc(path + ["--help"], environment: ["COLUMNS": "1000"])
        var paths = [path]
        guard let start = help.stdout.range(of: "SUBCOMMANDS:\n") else { return paths }
        // One line per subcommand at this width, up to the blank line before "See 'amc help …'".
        for line in help.stdout[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("  "), let name = line.split(separator: " ").first else { break }
            if name != "help" { paths += try await commandPaths(path + [String(name)]) }
        }
        return paths
    }

    @Test func everyCommandsHelpHasWholeParagraphsAndAUsageLineThatShowsWhatIsRequired() async throws {
        let paths = try await commandPaths()
        #expect(paths.count > 20, "\(paths)")
        for path in paths {
            let help = try await amc(path + ["--help"], environment: ["COLUMNS": "1000"])
            #expect(help.status == 0)
            let lines = help.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            let overview = lines.prefix { !$0.hasPrefix("USAGE:") }
            // At a width wider than any paragraph, a line that does not end a sentence was broken by hand.
            for line in overview where !line.isEmpty {
                #expect(
                    line.last.map { ".:)".contains($0) } == true,
                    "amc \(path.joined(separator: " ")) --help breaks a paragraph after: \(line)"
                )
            }
            let usage = try #require(lines.first { $0.hasPrefix("USAGE:") })
            #expect(
                !usage.contains(" <options>"),
                "amc \(path.joined(separator: " ")): \(usage) hides which options are required"
            )
        }
        let simulate = try await amc(["simulate", "--help"], environment: ["COLUMNS": "1000"])
        #expect(simulate.stdout.contains("USAGE: amc simulate --out <out> "), "\(simulate.stdout)")
        let root = try await amc(["--help"], environment: ["COLUMNS": "1000"])
        #expect(root.stdout.contains("go before the subcommand or after it"), "\(root.stdout)")
    }

    @Test func globalOptionsWorkBeforeTheSubcommand() async throws {
        let url = try TestPostgres.freshDatabase()
        let before = try await amc(["--database-url", url, "--log-level", "error", "model", "list"])
        #expect(before.status == 0, "\(before.stderr)")
        let after = try await amc(["model", "list", "--database-url", url, "--log-level", "error"])
        #expect(before.stdout == after.stdout)
        let joined = try await amc(["--database-url=\(url)", "audit", "activations", "--json"])
        #expect(joined.status == 0, "\(joined.stderr)")

        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("amc-\(UUID().uuidString).json")
        let config = try await amc(["--config", missing.path, "serve"])
        #expect(config.stderr == "Error: config file \(missing.path) does not exist\n", "\(config.stderr)")
        // A value that looks like an option still belongs to the global option that precedes it.
        let produce = try await amc(["--brokers", "127.0.0.1:1", "produce", "--rate", "-5", "/dev/null"])
        #expect(produce.stderr == "Error: produce.rate (--rate) must be in 1...100000000, got -5\n")
    }

    @Test func negativeNumbersAreValuesThatTheOptionsOwnCheckRefuses() async throws {
        let cases: [(arguments: [String], message: String)] = [
            (["serve", "--port", "-1"], "Error: serve.port (--port) must be in 0...65535, got -1"),
            (["ingest", "--until-idle", "-0.5"], "Error: ingest.untilIdleSeconds (--until-idle) must be"),
            (["learn", "--gate-tolerance", "-1e-3"], "Error: learn.gate.tolerance (--gate-tolerance) must be"),
            (["broker", "--partitions", "-8"], "Error: broker.partitions (--partitions) must be in 1...10000"),
            (["eval", "--labels", "/dev/null", "--version", "-3"], "Error: --version must be at least 1, got -3"),
            (["model", "rollback", "--to", "-2"], "Error: --to must be at least 1, got -2"),
            (["deadletters", "list", "--limit", "-1"], "Error: --limit must be at least 1"),
            (["deadletters", "replay", "--all", "--batch-size", "-10"], "Error: --batch-size must be at least 1"),
            (["bench", "ingest", "--steady-rate", "-100"], "Error: events ≥ 1000"),
            (["bench", "score", "--clients", "-4"], "Error: images ≥ 2"),
            (["bench", "learn", "--batch", "-16"], "Error: examples ≥ 1"),
        ]
        for (arguments, message) in cases {
            let result = try await amc(arguments, environment: ["AMC_DATABASE_URL": ""])
            #expect(result.status != 0, "\(arguments)")
            #expect(!result.stderr.contains("Missing value"), "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix(message), "\(arguments): \(result.stderr)")
        }
    }
}
