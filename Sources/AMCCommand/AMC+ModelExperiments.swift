import ArgumentParser
import CommandSupport
import Foundation
import Postgres
import Registry

extension AMC.ModelCommand {
    /// `amc model shadow N [--sample F]`, `amc model shadow --stop`: shadow scoring of a candidate version.
    struct Shadow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start shadow scoring of a version (the workers also score a sample of requests with it, off the "
                + "request path, and record both rankings), or stop it with --stop.",
            discussion: "Starting one stops the running shadow experiment. Recorded in online_experiments with actor "
                + "and reason, and announced to the scoring workers."
        )
        /// Default of `--sample`: a tenth of the requests (a tenth more scoring work, off the request path).
        static let defaultSample = 0.1

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The candidate version (must exist and not be active).") var version: Int64?
        @Option(help: "The share of requests scored in shadow, in (0, 1]. Default: 0.1.") var sample: Double?
        @Flag(help: "Stop the running shadow experiment.") var stop = false
        @Option(help: "Why (recorded in online_experiments).") var reason: String?
        @Option(help: "Who (default: $USER).") var actor: String?

        func validate() throws {
            try ExperimentArguments.validate(version: version, share: sample, shareName: "--sample", stop: stop)
        }

        func run() async throws {
            print(try await perform())
        }

        /// Starts or stops the experiment.
        /// - Returns: The line `run()` prints.
        func perform() async throws -> String {
            try await ExperimentArguments.run(
                try await options.resolve(),
                kind: .shadow,
                version: version,
                share: sample ?? Self.defaultSample,
                actor: actor,
                reason: reason
            )
        }
    }

    /// `amc model interleave N [--share F]`, `amc model interleave --stop`: team-draft interleaving of a candidate
    /// version with the active one.
    struct Interleave: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start team-draft interleaving of a version with the active one (a share of requests gets both "
                + "rankings merged; clicks credit the team that placed each image), or stop it with --stop.",
            discussion: "Starting one stops the running interleaving experiment. Recorded in online_experiments with "
                + "actor and reason, and announced to the scoring workers."
        )
        /// Default of `--share`: a tenth of the requests (each scored twice, on the request path).
        static let defaultShare = 0.1

        @OptionGroup var options: GlobalOptions
        @Argument(help: "The candidate version (must exist and not be active).") var version: Int64?
        @Option(help: "The share of requests answered interleaved, in (0, 1]. Default: 0.1.") var share: Double?
        @Flag(help: "Stop the running interleaving experiment.") var stop = false
        @Option(help: "Why (recorded in online_experiments).") var reason: String?
        @Option(help: "Who (default: $USER).") var actor: String?

        func validate() throws {
            try ExperimentArguments.validate(version: version, share: share, shareName: "--share", stop: stop)
        }

        func run() async throws {
            print(try await perform())
        }

        /// Starts or stops the experiment.
        /// - Returns: The line `run()` prints.
        func perform() async throws -> String {
            try await ExperimentArguments.run(
                try await options.resolve(),
                kind: .interleave,
                version: version,
                share: share ?? Self.defaultShare,
                actor: actor,
                reason: reason
            )
        }
    }
}

/// What `amc model shadow` and `amc model interleave` share.
enum ExperimentArguments {
    static func validate(version: Int64?, share: Double?, shareName: String, stop: Bool) throws {
        if stop {
            guard version == nil else { throw ValidationError("give a version to start, or --stop, not both") }
            guard share == nil else { throw ValidationError("\(shareName) starts an experiment; --stop takes none") }
            return
        }
        guard let version else { throw ValidationError("give the candidate version to start, or --stop") }
        guard version >= 1 else { throw ValidationError("the version must be at least 1, got \(version)") }
        if let share, !(share > 0 && share <= 1) {
            throw ValidationError("\(shareName) must be in (0, 1], got \(share)")
        }
    }

    /// Starts (with a version) or stops an experiment of `kind` in one transaction; returns the line to print.
    static func run(
        _ settings: Settings,
        kind: ExperimentKind,
        version: Int64?,
        share: Double,
        actor: String?,
        reason: String?
    ) async throws -> String {
        let actor = actor ?? Operator.defaultActor
        return try await withConnection(settings) { connection in
            try connection.transaction { connection in
                let store = ExperimentStore(connection: connection)
                guard let version else {
                    guard
                        let stopped = try store.stop(
                            kind: kind,
                            actor: actor,
                            reason: reason ?? "stopped by an operator"
                        )
                    else { throw CommandError("no \(kind.rawValue) experiment is running") }
                    return "stopped \(describe(stopped)); announced on \(ExperimentStore.changeChannel)"
                }
                let started = try store.start(
                    kind: kind,
                    candidate: version,
                    share: share,
                    actor: actor,
                    reason: reason ?? "started by an operator"
                )
                let replaced = started.stopped.map { "; stopped \(describe($0))" } ?? ""
                return "started \(describe(started.experiment)) on a share of \(started.experiment.share) of requests"
                    + "\(replaced); announced on \(ExperimentStore.changeChannel)"
            }
        }
    }

    private static func describe(_ experiment: OnlineExperiment) -> String {
        "\(experiment.kind.rawValue) experiment \(experiment.id) of version \(experiment.candidateVersion)"
    }
}
