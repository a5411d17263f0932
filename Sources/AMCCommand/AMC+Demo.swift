import AMCDemo
import ArgumentParser
import Foundation

extension AMC {
    /// `amc demo`: the whole loop on the embedded default, with a readable report.
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the pipeline end to end on the embedded default and print what landed.",
            discussion: """
                Starts a local PostgreSQL under .amc/postgres and the embedded Kafka, replays a Clickture-style \
                click log (the shipped sample unless --clicks is given) and ingests it; then streams a simulated \
                world, bootstraps every scoring architecture, compares them with the baselines and activates the \
                best by held-out NDCG@5, shifts some queries' intent and lets simulated users search the served \
                version (their clicks go through Kafka and ingest), fine-tunes online, rolls back and re-activates; \
                prints a report, writes .amc/report/index.html and stops everything it started.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Click log to replay instead of the shipped sample (key demo.clicks).")
        var clicks: String?

        @Option(help: "Working folder for the local database (key demo.directory). Default: .amc")
        var directory: String?

        func run() async throws {
            var flags = FlagValues()
            flags.set("demo.clicks", clicks, flag: "--clicks")
            flags.set("demo.directory", directory, flag: "--directory")
            let settings = try await options.resolve(extra: flags)
            let sample = try settings.reader.string(forKey: "demo.clicks") ?? DemoRun.sampleLogPath()
            let directory = try settings.reader.nonEmptyString(forKey: "demo.directory", default: ".amc")
            let root = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL
            try await DemoRun(sample: sample, root: root, migrations: try settings.migrationsDirectory()).run()
        }
    }
}
