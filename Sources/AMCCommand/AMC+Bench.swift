import AMCBench
import ArgumentParser
import Foundation

extension AMC {
    /// `amc bench`: the benchmarks; each prints its figures beside a reference measured in the same run.
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a benchmark and print its figures next to the reference measured in the same run.",
            subcommands: [Ingest.self, Score.self, Learn.self, Adapt.self, Scale.self]
        )
    }
}

extension AMC.Bench {
    /// `amc bench ingest`: the options of ``BenchIngest``.
    struct Ingest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ingest",
            abstract: "Ingest throughput vs a plain COPY and a reference consumer; click-to-visible latency.",
            usage: "amc bench ingest [<options>]",
            discussion: """
                Runs on the embedded mock cluster, or with --brokers HOST:PORT (key kafka.brokers) on an external \
                broker, where the run's topics get a suffix of their own and are created through the admin API.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Click events in the throughput run.")
        var events = BenchIngest().events

        @Option(help: "Distinct queries (Zipf-distributed, exponent 1).")
        var queries = BenchIngest().queries

        @Option(help: "Images per query (Zipf-distributed within the query).")
        var imagesPerQuery = BenchIngest().imagesPerQuery

        @Option(help: "Partitions of the benchmark topics.")
        var partitions = BenchIngest().partitions

        @Option(
            help: "Most messages the producer may run ahead of what is committed (keeps the mock broker from trimming)."
        )
        var lead = BenchIngest().lead

        @Option(help: "Events per second in the latency run.")
        var steadyRate = BenchIngest().steadyRate

        @Option(help: "Seconds of the latency run.")
        var steadySeconds = BenchIngest().steadySeconds

        @Option(help: "The reference consumer script (python3-confluent-kafka + python3-psycopg2).")
        var referenceScript = BenchIngest().referenceScript

        @Flag(help: "Skip the reference consumer.")
        var skipReference = false

        /// The benchmark these options describe.
        var benchmark: BenchIngest {
            var benchmark = BenchIngest()
            benchmark.events = events
            benchmark.queries = queries
            benchmark.imagesPerQuery = imagesPerQuery
            benchmark.partitions = partitions
            benchmark.lead = lead
            benchmark.steadyRate = steadyRate
            benchmark.steadySeconds = steadySeconds
            benchmark.referenceScript = referenceScript
            benchmark.skipReference = skipReference
            return benchmark
        }

        func validate() throws {
            if let problem = benchmark.invalidParameters { throw ValidationError(problem) }
        }

        func run() async throws {
            let settings = try await options.resolve()
            var benchmark = benchmark
            if let brokers = try settings.reader.string(forKey: "kafka.brokers"), !brokers.isEmpty {
                benchmark.kafka = try settings.kafkaConfig()
            }
            try await benchmark.run(migrations: try settings.migrationsDirectory())
        }
    }

    /// `amc bench score`: the options of ``BenchScore``.
    struct Score: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "score",
            abstract:
                "Scoring latency (in-process vs NumPy and ONNX Runtime), HTTP throughput and p99, p99 and failures during hot swaps.",
            usage: "amc bench score [<options>]"
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Images in the synthetic catalog.")
        var images = BenchScore().images

        @Option(help: "Region cells per image (R); D is the model's region dimension (32).")
        var regions = BenchScore().regions

        @Option(help: "Mean keywords per image (K is uniform in K-4...K+4).")
        var keywords = BenchScore().keywords

        @Option(help: "Candidates scored per query (in-process and per HTTP request).")
        var candidates = BenchScore().candidates

        @Option(help: "Timed in-process queries (each with its own random candidates); the reference scores the same.")
        var queries = BenchScore().queries

        @Option(
            help:
                "Rounds the timed in-process queries are split into, alternating with ONNX Runtime's rounds of the same queries (1: one after the other)."
        )
        var inProcessRounds = BenchScore().inProcessRounds

        @Option(help: "Concurrent HTTP clients (keep-alive connections), in both load phases.")
        var clients = BenchScore().clients

        @Option(help: "Seconds of the steady HTTP load (split over the rounds).")
        var seconds = BenchScore().seconds

        @Option(
            help: "Rounds of steady load then swaps (the swaps split over them), so both phases share a background."
        )
        var rounds = BenchScore().rounds

        @Option(help: "Seconds of unmeasured HTTP load before the steady phase (connections, first-use costs).")
        var warmup = BenchScore().warmup

        @Option(help: "Activations during the swap phase, each of a version the worker has not loaded before.")
        var swaps = BenchScore().swaps

        @Option(help: "Rollbacks after the swap phase (back and forth between the last two versions).")
        var rollbacks = BenchScore().rollbacks

        @Option(help: "Milliseconds from one activation to the next.")
        var swapInterval = BenchScore().swapInterval

        @Flag(
            help:
                "Swap in unrelated bootstrap versions (every swap re-encodes the catalog) instead of MTN fine-tunes of the first (encodings reused)."
        )
        var reencode = false

        @Option(help: "Seed of the catalog, the queries and the weights.")
        var seed = BenchScore().seed

        @Option(help: "The NumPy reference scorer (python3-numpy).")
        var reference = BenchScore().reference

        @Option(help: "The Python interpreter that runs the references (looked up in PATH unless it contains a '/').")
        var python = BenchScore().python

        @Flag(help: "Skip the reference (no comparison, no cross-check).")
        var skipReference = false

        @Option(
            help:
                "The ONNX Runtime reference (onnx and onnxruntime: bash Benchmarks/venv.sh prints a Python that has them)."
        )
        var onnxReference = BenchScore().onnxReference

        @Flag(help: "Skip the ONNX Runtime reference.")
        var skipOnnxReference = false

        @Flag(help: "Keep the folder with the reference's data and weights files.")
        var keep = false

        @Option(
            help: ArgumentHelp(
                "The architectures measured beside AMC (comma-separated; AMC's run always runs).",
                valueName: "ids"
            ),
            transform: Self.architectureList
        )
        var architectures = BenchScore().architectures

        @Option(
            help:
                "The NumPy reference runner of the other architectures (it imports reference_models/<id>.py beside it)."
        )
        var modelReference = BenchScore().modelReference

        /// The benchmark these options describe.
        var benchmark: BenchScore {
            var benchmark = BenchScore()
            benchmark.images = images
            benchmark.regions = regions
            benchmark.keywords = keywords
            benchmark.candidates = candidates
            benchmark.queries = queries
            benchmark.inProcessRounds = inProcessRounds
            benchmark.clients = clients
            benchmark.seconds = seconds
            benchmark.rounds = rounds
            benchmark.warmup = warmup
            benchmark.swaps = swaps
            benchmark.rollbacks = rollbacks
            benchmark.swapInterval = swapInterval
            benchmark.reencode = reencode
            benchmark.seed = seed
            benchmark.reference = reference
            benchmark.python = python
            benchmark.skipReference = skipReference
            benchmark.onnxReference = onnxReference
            benchmark.skipOnnxReference = skipOnnxReference
            benchmark.keep = keep
            benchmark.architectures = architectures
            benchmark.modelReference = modelReference
            return benchmark
        }

        func validate() throws {
            if let problem = benchmark.invalidParameters { throw ValidationError(problem) }
        }

        func run() async throws {
            let settings = try await options.resolve()
            try await benchmark.run(migrations: try settings.migrationsDirectory(), logLevel: settings.logLevel)
        }

        /// `a,b` → `["a", "b"]` (spaces around the ids ignored).
        static func architectureList(_ value: String) -> [String] {
            value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    /// `amc bench learn`: the options of ``BenchLearn``.
    struct Learn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "learn",
            abstract: "Trainer throughput (MTN fine-tune, bootstrap) vs a NumPy reference of the same training step.",
            usage: "amc bench learn [<options>]"
        )

        @Option(help: "Training pairs (query, clicked image, negatives) in the synthetic set.")
        var examples = BenchLearn().examples

        @Option(help: "Distinct images the pairs draw from.")
        var images = BenchLearn().images

        @Option(help: "Region cells per image (R).")
        var regions = BenchLearn().regions

        @Option(help: "Mean keywords per image (K is uniform in K-4...K+4).")
        var keywords = BenchLearn().keywords

        @Option(help: "Negatives per pair (T).")
        var negatives = BenchLearn().negatives

        @Option(help: "Minibatch size.")
        var batch = BenchLearn().batch

        @Option(help: "Seconds of timed training per implementation and scope (whole epochs, at least one).")
        var seconds = BenchLearn().seconds

        @Option(help: "Minibatches from the initial weights whose losses (and resulting weights) are cross-checked.")
        var checkSteps = BenchLearn().checkSteps

        @Option(help: "Seed of the synthetic data and the initial weights.")
        var seed = BenchLearn().seed

        @Option(help: "The NumPy reference trainer (python3-numpy).")
        var reference = BenchLearn().reference

        @Option(help: "The Python interpreter that runs the reference (looked up in PATH unless it contains a '/').")
        var python = BenchLearn().python

        @Flag(help: "Skip the reference (no ratio, no cross-check).")
        var skipReference = false

        @Flag(help: "Keep the folder with the data and weights files.")
        var keep = false

        @Option(
            help: ArgumentHelp(
                "The architectures measured beside AMC (comma-separated; AMC's run always runs).",
                valueName: "ids"
            ),
            transform: AMC.Bench.Score.architectureList
        )
        var architectures = BenchLearn().architectures

        /// The benchmark these options describe.
        var benchmark: BenchLearn {
            var benchmark = BenchLearn()
            benchmark.examples = examples
            benchmark.images = images
            benchmark.regions = regions
            benchmark.keywords = keywords
            benchmark.negatives = negatives
            benchmark.batch = batch
            benchmark.seconds = seconds
            benchmark.checkSteps = checkSteps
            benchmark.seed = seed
            benchmark.reference = reference
            benchmark.python = python
            benchmark.skipReference = skipReference
            benchmark.keep = keep
            benchmark.architectures = architectures
            return benchmark
        }

        func validate() throws {
            if let problem = benchmark.invalidParameters { throw ValidationError(problem) }
        }

        func run() async throws {
            try await benchmark.run()
        }
    }

    /// `amc bench adapt`: the options of ``BenchAdapt``.
    struct Adapt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "adapt",
            abstract:
                "Click → served model latency and time to adapt after an intent shift, waking learner vs polling.",
            usage: "amc bench adapt [<options>]"
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Clicks per second the simulated users aim at.")
        var rate = BenchAdapt().rate

        @Option(help: "Seconds of simulated traffic in each run (waking, then polling).")
        var duration = BenchAdapt().duration

        @Option(help: "Seconds after the start of the traffic at which the intent shifts (t₀).")
        var shiftAt = BenchAdapt().shiftAt

        @Option(help: "Most scoring requests of the users in flight at once.")
        var concurrency = BenchAdapt().concurrency

        @Option(help: "Architecture bootstrapped before the runs and retrained on the shifted intent (the reference).")
        var architecture = BenchAdapt().architecture

        @Option(help: "Seconds between the polling baseline's cycles (learn.interval-seconds).")
        var baselineInterval = BenchAdapt().baselineInterval

        @Option(help: "The waking learner's learn.min-cycle-spacing-seconds.")
        var minCycleSpacing = BenchAdapt().minCycleSpacing

        @Option(help: "How close to the retrain's NDCG@5 on the shifted labels counts as adapted.")
        var tolerance = BenchAdapt().tolerance

        @Option(
            help: "The runs' learn.gate.tolerance: largest held-out NDCG@5 drop a fine-tune may show untested."
        )
        var gateTolerance = BenchAdapt().gateTolerance

        @Option(help: "Longest wait after the traffic for a served version to include every click, in seconds.")
        var settle = BenchAdapt().settle

        @Option(help: "Images of the simulated world.")
        var images = BenchAdapt().images

        @Option(help: "Concepts of the simulated world.")
        var concepts = BenchAdapt().concepts

        @Option(help: "Training queries of the simulated world (the users search these).")
        var queries = BenchAdapt().queries

        @Option(help: "Held-out queries of the simulated world (the shifted labels judge these).")
        var heldOut = BenchAdapt().heldOut

        @Option(help: "Share of the world's visual-intent concepts whose users turn to the tags at t₀.")
        var shiftedShare = BenchAdapt().shiftedShare

        @Option(help: "Seed of the simulated world.")
        var seed = Int(BenchAdapt().seed)

        @Option(
            help: ArgumentHelp(
                "A PostgreSQL URL of a server that may CREATE DATABASE: the scratch databases go there (and are "
                    + "dropped) instead of on a throwaway local server.",
                valueName: "url"
            )
        )
        var adminURL: String?

        @Flag(help: "Skip the polling baseline's run.")
        var skipBaseline = false

        /// The benchmark these options describe.
        var benchmark: BenchAdapt {
            var benchmark = BenchAdapt()
            benchmark.rate = rate
            benchmark.duration = duration
            benchmark.shiftAt = shiftAt
            benchmark.concurrency = concurrency
            benchmark.architecture = architecture
            benchmark.baselineInterval = baselineInterval
            benchmark.minCycleSpacing = minCycleSpacing
            benchmark.tolerance = tolerance
            benchmark.settle = settle
            benchmark.gateTolerance = gateTolerance
            benchmark.images = images
            benchmark.concepts = concepts
            benchmark.queries = queries
            benchmark.heldOut = heldOut
            benchmark.shiftedShare = shiftedShare
            benchmark.seed = UInt64(max(0, seed))
            benchmark.adminURL = adminURL
            benchmark.skipBaseline = skipBaseline
            return benchmark
        }

        func validate() throws {
            if seed < 0 { throw ValidationError("seed ≥ 0") }
            if let problem = benchmark.invalidParameters { throw ValidationError(problem) }
        }

        func run() async throws {
            let settings = try await options.resolve()
            try await benchmark.run(migrations: try settings.migrationsDirectory(), logLevel: settings.logLevel)
        }
    }
}
