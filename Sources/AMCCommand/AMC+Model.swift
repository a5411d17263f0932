import ArgumentParser
import CommandSupport
import Foundation
import Learning
import Logging
import Postgres
import Registry

extension AMC {
    /// `amc model`: the version registry for operators (design §4, §7).
    struct ModelCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "model",
            abstract: "List, inspect, export, activate and roll back model versions; shadow-score, interleave and "
                + "compare candidates.",
            subcommands: [
                List.self, Show.self, Export.self, Activate.self, Rollback.self, Shadow.self, Interleave.self,
                Compare.self,
            ]
        )

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Every version, oldest first.")
            @OptionGroup var options: GlobalOptions
            @Flag(help: "One JSON array of version objects.") var json = false

            func run() async throws {
                let settings = try await options.resolve()
                let (versions, active) = try await withRegistry(settings) { registry in
                    (try registry.versions(), try registry.activeVersion())
                }
                if json {
                    print(try RegistryOutput.json(versions.map { RegistryOutput.VersionSummary($0, active: active) }))
                } else {
                    print(RegistryOutput.table(versions, active: active))
                }
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "One version in full.")
            @OptionGroup var options: GlobalOptions
            @Argument(help: "The version number.") var version: Int64
            @Flag(help: "One JSON object.") var json = false

            func run() async throws {
                let settings = try await options.resolve()
                let number = version
                let (found, active, activations, experiments) = try await withConnection(settings) { connection in
                    let registry = ModelRegistry(connection: connection)
                    return (
                        try registry.version(number), try registry.activeVersion(), try registry.activations(),
                        try ExperimentStore(connection: connection).experiments(candidate: number)
                    )
                }
                guard let found else { throw CommandError("model version \(number) does not exist") }
                var detail = RegistryOutput.VersionDetail(
                    found,
                    active: active,
                    activations: activations.filter { $0.version == number }
                )
                detail.experiments = experiments.map(RegistryOutput.ExperimentRecord.init)
                print(json ? try RegistryOutput.json(detail) : RegistryOutput.text(detail))
            }
        }

        struct Export: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write a version's weights blob, exactly as stored, to a file; sha256sum of the file is "
                    + "the sha256 that model show and the scoring workers report."
            )
            @OptionGroup var options: GlobalOptions
            @Argument(help: "The version number.") var version: Int64
            @Option(help: "The file to write (replaced if it exists).") var out: String

            func run() async throws {
                let settings = try await options.resolve()
                let number = version
                guard let stored = try await withRegistry(settings, { try $0.storedWeights(of: number) }) else {
                    throw CommandError("model version \(number) does not exist")
                }
                do {
                    try Data(stored.blob).write(to: URL(fileURLWithPath: out), options: .atomic)
                } catch {
                    throw CommandError("cannot write \(out): \(error.localizedDescription)")
                }
                // The bytes are written either way (they are what is stored, for inspection); a mismatch fails.
                let computed = SHA256.hexDigest(of: stored.blob)
                guard computed == stored.sha256 else {
                    throw CommandError(
                        "wrote model version \(number) to \(out), but its weights fail their sha256 check "
                            + "(stored \(stored.sha256), computed \(computed))"
                    )
                }
                print("wrote model version \(number) to \(out): \(stored.blob.count) bytes, sha256 \(stored.sha256)")
            }
        }

        struct Activate: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Make a version active (recorded with actor and reason, announced to the scoring workers)."
            )
            @OptionGroup var options: GlobalOptions
            @Argument(help: "The version number.") var version: Int64
            @Option(help: "Why (recorded in model_activations).") var reason = "activated by an operator"
            @Option(help: "Who (default: $USER).") var actor: String?

            func run() async throws {
                let settings = try await options.resolve()
                let line = try await Operator.activate(
                    settings,
                    target: version,
                    actor: actor ?? Operator.defaultActor,
                    reason: reason,
                    verb: "activated"
                )
                print(line)
            }
        }

        struct Rollback: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Activate an earlier version: by default the one active before the current one."
            )
            @OptionGroup var options: GlobalOptions
            @Option(help: "The version to return to (default: the previously active one).") var to: Int64?
            @Option(help: "Why (recorded in model_activations).") var reason = "rollback"
            @Option(help: "Who (default: $USER).") var actor: String?

            func validate() throws {
                if let to, to < 1 { throw ValidationError("--to must be at least 1, got \(to)") }
            }

            func run() async throws {
                let settings = try await options.resolve()
                let requested = to
                let target: Int64
                if let requested {
                    target = requested
                } else {
                    guard let previous = try await withRegistry(settings, { try $0.previousVersion() }) else {
                        throw CommandError("nothing to roll back to: no version was active before the current one")
                    }
                    target = previous
                }
                let line = try await Operator.activate(
                    settings,
                    target: target,
                    actor: actor ?? Operator.defaultActor,
                    reason: reason,
                    verb: "rolled back to"
                )
                print(line)
            }
        }
    }
}

/// Runs `body` with a registry on a fresh connection, off the cooperative pool.
func withRegistry<T: Sendable>(
    _ settings: Settings,
    _ body: @escaping @Sendable (ModelRegistry) throws -> T
) async throws -> T {
    try await withConnection(settings) { try body(ModelRegistry(connection: $0)) }
}

/// Operator activations.
enum Operator {
    static var defaultActor: String {
        let user = ProcessInfo.processInfo.environment["USER"] ?? ""
        return user.isEmpty ? "operator" : user
    }

    /// Activates `target` in one transaction and returns the line to print.
    static func activate(
        _ settings: Settings,
        target: Int64,
        actor: String,
        reason: String,
        verb: String
    ) async throws -> String {
        try await withConnection(settings) { connection in
            let activation = try connection.transaction { connection in
                let registry = ModelRegistry(connection: connection)
                // An unknown version is refused by `activate` itself.
                guard try registry.activeVersion() != target else {
                    throw CommandError("model version \(target) is already active")
                }
                return try registry.activate(target, actor: actor, reason: reason)
            }
            let previous = activation.previousVersion.map { " (was \($0))" } ?? ""
            return "\(verb) version \(target)\(previous); announced on \(ModelRegistry.activationChannel)"
        }
    }
}
