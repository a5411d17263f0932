import ArgumentParser

extension AMC {
    /// `amc bench`: the benchmarks; each prints its figures beside a reference measured in the same run.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a benchmark and print its figures next to the reference measured in the same run.",
            subcommands: [BenchIngest.self, BenchScore.self, BenchLearn.self]
        )
    }
}
