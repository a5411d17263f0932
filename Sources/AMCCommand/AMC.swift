import ArgumentParser

/// The `amc` executable: one root command, one subcommand per operation (design §4).
@main
struct AMC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amc",
        abstract: "Streaming click-log ingest and online AMC learning for image search.",
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
            ModelCommand.self,
            Audit.self,
            DeadLetters.self,
            Retention.self,
            Serve.self,
        ]
    )
}
