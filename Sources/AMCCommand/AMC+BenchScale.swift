import AMCBench
import ArgumentParser
import Foundation

extension AMC.Bench {
    /// `amc bench scale`: the options of ``BenchScale``.
    struct Scale: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scale",
            abstract: "How worker memory, start, swap, scoring, catalog import and ingest grow with their sizes.",
            usage: "amc bench scale [<options>]",
            discussion: """
                Run it from a release build: the worker (amc serve) and the import run as child processes of the \
                same binary (--amc), on an embedded PostgreSQL. The last line is \
                RESULT rss_gb_1e6=… ready_s_1e6=… p99_ms_1e6_hot=… ingest_ratio_1e7=… (nan for a size not run).
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(parsing: .upToNextOption, help: "Catalog sizes (images).")
        var sizes = BenchScale().sizes

        @Option(parsing: .upToNextOption, help: "Sizes of the pre-filled click_events tables ingest runs into.")
        var events = BenchScale().tableEvents

        @Flag(help: "Skip the ingest runs (only the catalogs and the worker).")
        var skipIngest = false

        @Option(help: "Click events ingested (and then copied) into each pre-filled table.")
        var ingestEvents = BenchScale().ingestEvents

        @Option(help: "Region cells per image (R).")
        var regions = BenchScale().regions

        @Option(help: "Keywords per image on average (± 4).")
        var keywords = BenchScale().keywords

        @Option(help: "Measured scoring requests per latency figure (hot and cold each).")
        var requests = BenchScale().requests

        @Option(help: "The worker's serve.catalog-memory (4GiB, bytes, unlimited). Default: the worker's setting.")
        var catalogMemory: String?

        @Option(help: "Write the curves as an SVG plot to this file (e.g. Docs/benchmarks/scale.svg).")
        var plot: String?

        @Option(help: "The amc binary the worker and the import run as. Default: this one.")
        var amc: String?

        @Option(help: "Longest wait, in seconds, for the worker to become ready or to serve a swap.")
        var timeoutSeconds = 3600

        @Option(help: "Partitions of the ingest topics.")
        var partitions = BenchScale().partitions

        @Option(help: "Seed of the catalog and the ingest workload.")
        var seed = BenchScale().seed

        /// The benchmark these options describe.
        var benchmark: BenchScale {
            var benchmark = BenchScale()
            benchmark.sizes = sizes
            benchmark.tableEvents = skipIngest ? [] : events
            benchmark.ingestEvents = ingestEvents
            benchmark.regions = regions
            benchmark.keywords = keywords
            benchmark.requests = requests
            benchmark.catalogMemory = catalogMemory
            benchmark.plot = plot
            benchmark.executable = amc ?? Bundle.main.executablePath ?? CommandLine.arguments[0]
            benchmark.timeout = .seconds(timeoutSeconds)
            benchmark.partitions = partitions
            benchmark.seed = seed
            return benchmark
        }

        func validate() throws {
            if let problem = benchmark.invalidParameters { throw ValidationError(problem) }
            guard timeoutSeconds >= 1 else { throw ValidationError("timeout-seconds ≥ 1") }
        }

        func run() async throws {
            let settings = try await options.resolve()
            try await benchmark.run(migrations: try settings.migrationsDirectory())
        }
    }
}
