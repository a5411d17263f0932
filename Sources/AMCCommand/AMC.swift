import ArgumentParser
import CommandSupport
import Foundation
import Postgres

/// The `amc` executable: one root command, one subcommand per operation (design §4).
@main
struct AMC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amc",
        abstract: "Streaming click-log ingest and online AMC learning for image search.",
        discussion: """
            The global options --database-url, --brokers, --config, --log-level and --log-format go before the \
            subcommand or after it: amc --database-url URL model list is amc model list --database-url URL. Each \
            also has an environment variable and a config key (precedence: flag, environment, config file, \
            default); see Docs/configuration.md.
            """,
        subcommands: [
            Migrate.self,
            Broker.self,
            Produce.self,
            Ingest.self,
            Bench.self,
            Demo.self,
            Simulate.self,
            Catalog.self,
            Learn.self,
            Eval.self,
            Explain.self,
            ModelCommand.self,
            Audit.self,
            DeadLetters.self,
            Retention.self,
            Serve.self,
        ]
    )

    /// Parses and runs the command. Errors print as one `Error:` line and exit non-zero; a database failure
    /// prints libpq's or the server's own message (never a URL or a bound value) rather than a type dump. Standard
    /// output is line buffered even into a file or a pipe, so a long command's progress lines show as they happen.
    static func main() async {
        // Swift 6 refuses to read the C global `stdout`; its address comes from the C library instead.
        if let stream = dlsym(nil, "stdout")?.load(as: UnsafeMutablePointer<FILE>?.self) {
            setvbuf(stream, nil, _IOLBF, 0)
        }
        do {
            var command = try parseAsRoot(CommandLineArguments.normalised(Array(CommandLine.arguments.dropFirst())))
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as PostgresError {
            exit(withError: CommandError(error.commandLine))
        } catch {
            exit(withError: error)
        }
    }
}
