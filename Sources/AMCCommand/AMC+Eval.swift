import ArgumentParser
import ClickLog
import CommandSupport
import Evaluation
import Foundation
import Learning
import Logging
import Model
import Postgres
import Registry

extension AMC {
    /// `amc eval`: the model and the baselines on graded labels, one row each (the AMC paper's Tables 1–2).
    struct Eval: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate a model version and the baselines on graded labels (NDCG@5…25, P@5, MAP, MRR, AUC)."
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Labels file: query \\t image_key \\t Excellent|Good|Bad (Clickture DevSetLabel form).")
        var labels: String

        @Option(help: "Model version to evaluate. Default: the active version.")
        var version: Int?

        @Flag(
            help: """
                Also evaluate the latest version of every other architecture, beside the active one and the \
                baselines, with each version's scoring cost (µs per candidate) and training speed (pairs/s).
                """
        )
        var allArchitectures = false

        @Option(
            help: """
                How the candidates' encodings are stored before scoring, as a scoring worker's serve.encoding \
                stores them: float32 (exact), float16 or int8.
                """
        )
        var encoding: EncodingPrecision = .float32

        @Flag(help: "Print one JSON object instead of a table.")
        var json = false

        func validate() throws {
            if let version, version < 1 { throw ValidationError("--version must be at least 1, got \(version)") }
            if encoding != .float32 && allArchitectures {
                throw ValidationError("--encoding applies to one version; drop --all-architectures")
            }
            if version != nil && allArchitectures {
                throw ValidationError("--all-architectures compares the active version with the others; drop --version")
            }
        }

        func run() async throws {
            let settings = try await options.resolve()
            let bytes: [UInt8]
            do {
                bytes = Array(try Data(contentsOf: URL(fileURLWithPath: labels)))
            } catch {
                throw CommandError("cannot read labels file \(labels): \(error.localizedDescription)")
            }
            // Bytes, not a String: a line that is not UTF-8 is rejected on its own, the others are kept.
            let file = LabelFile(parsing: bytes, normalizeQuery: { QueryNormalizer.normalize($0) })
            for rejected in file.rejected.prefix(20) {
                let reason = TerminalText.escaped(rejected.reason)
                FileHandle.standardError.write(Data("\(labels):\(rejected.line): \(reason)\n".utf8))
            }
            if file.rejected.count > 20 {
                FileHandle.standardError.write(Data("… \(file.rejected.count - 20) more rejected lines\n".utf8))
            }
            guard !file.queries.isEmpty else { throw CommandError("\(labels) holds no usable labels") }
            let url = try settings.databaseURL()
            let requested = version.map(Int64.init)
            let allArchitectures = allArchitectures
            let encoding = encoding
            let logger = Logger(label: "amc.eval")
            let report = try await onBlockingThread {
                let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
                defer { connection.close() }
                do {
                    let evaluator = OfflineEvaluator(connection: connection)
                    if allArchitectures { return try evaluator.compareArchitectures(labels: file.queries) }
                    return try evaluator.evaluate(labels: file.queries, version: requested, encoding: encoding)
                } catch let error where error is LearnerError || error is RegistryError {
                    throw CommandError("\(error)")
                }
            }
            if json {
                print(try EvaluationTable.json(report))
            } else {
                print(allArchitectures ? EvaluationTable.comparison(report) : EvaluationTable.text(report))
            }
        }
    }
}

extension EncodingPrecision: ExpressibleByArgument {}
