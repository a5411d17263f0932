import ArgumentParser
import CommandSupport
import Foundation
import Learning

extension AMC.ModelCommand {
    /// `amc model compare N`: the live figures of a candidate's shadow and interleaving experiments (design §4).
    struct Compare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare a candidate version with the active one on live traffic: shadow agreement over time, "
                + "interleaving wins, losses, ties and the sign test's verdict.",
            discussion: """
                Reads the candidate's experiments (amc model shadow N, amc model interleave N, or the learner's \
                under learn.promotion = interleaving) as they are now. Shadow agreement: mean top-5 overlap and \
                Kendall tau between the served ranking and the candidate's ranking of the same request, per time \
                bucket. Interleaving: each clicked interleaved ranking credits the team whose images got more \
                clicks; the two-sided exact sign test over wins and losses (ties dropped). See Docs/online.md.
                """
        )
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The candidate version.") var version: Int64
        @Option(help: "Width of the shadow agreement's time buckets: seconds, or a number and s, m, h or d.")
        var bucket = "1h"
        @Option(help: "Significance level of the interleaving verdict.") var alpha = 0.05
        @Flag(help: "One JSON object.") var json = false

        func validate() throws {
            guard bucketSeconds != nil else {
                throw ValidationError("--bucket must be a positive number of seconds or like 90s, 30m, 1h, 1d")
            }
            guard alpha > 0, alpha < 1 else { throw ValidationError("--alpha must be in (0, 1), got \(alpha)") }
        }

        /// The bucket width in seconds, nil when `--bucket` is not a positive duration.
        var bucketSeconds: Double? {
            guard let seconds = Double(bucket) ?? DurationArgument.seconds(bucket), seconds > 0, seconds.isFinite
            else { return nil }
            return seconds
        }

        func run() async throws {
            let settings = try await options.resolve()
            let (candidate, width, level) = (version, bucketSeconds ?? 3600, alpha)
            let comparison = try await withConnection(settings) { connection in
                try OnlineComparison.load(
                    candidate: candidate,
                    connection: connection,
                    bucket: .seconds(width),
                    alpha: level
                )
            }
            print(json ? try RegistryOutput.json(comparison) : OnlineComparisonOutput.text(comparison))
        }
    }
}
