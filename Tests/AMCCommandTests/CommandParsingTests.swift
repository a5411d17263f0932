import AMCBench
import ArgumentParser
import Logging
import Postgres
import Testing

@testable import AMCCommand

/// Every subcommand's options as `AMC.parseAsRoot` reads them: defaults, each option and flag, and invalid values
/// refused with the message `amc` prints.
@Suite struct CommandParsingTests {
    // MARK: - Global options

    @Test func globalOptionsDefaultToUnsetAndParseAfterTheSubcommand() throws {
        let plain = try parse(["migrate"], as: AMC.Migrate.self)
        #expect(plain.options.databaseURL == nil)
        #expect(plain.options.brokers == nil)
        #expect(plain.options.config == nil)
        #expect(plain.options.logLevel == nil)
        #expect(plain.options.logFormat == nil)
        #expect(plain.migrations == nil)

        let set = try parse(
            [
                "migrate", "--database-url", "postgresql://u@h/db", "--brokers", "k:9092", "--config", "c.json",
                "--log-level", "debug", "--log-format", "json", "--migrations", "M",
            ],
            as: AMC.Migrate.self
        )
        #expect(set.options.databaseURL?.unredacted == "postgresql://u@h/db")
        #expect(set.options.brokers == "k:9092")
        #expect(set.options.config == "c.json")
        #expect(set.options.logLevel == .debug)
        #expect(set.options.logFormat == .json)
        #expect(set.migrations == "M")
    }

    @Test func globalOptionsBeforeTheSubcommandAreMovedAfterIt() throws {
        let command = try parse(
            CommandLineArguments.normalised(["--brokers", "k:1", "--log-level=error", "model", "list", "--json"]),
            as: AMC.ModelCommand.List.self
        )
        #expect(command.options.brokers == "k:1")
        #expect(command.options.logLevel == .error)
        #expect(command.json)
    }

    @Test func invalidGlobalValuesAreRefused() {
        #expect(failure(["migrate", "--log-level", "loud"]).contains("--log-level"))
        #expect(failure(["migrate", "--log-format", "xml"]).contains("--log-format"))
        #expect(failure(["migrate", "--no-such-option"]).contains("Unknown option '--no-such-option'"))
        #expect(failure(["no-such-command"]).contains("no-such-command"))
    }

    // MARK: - Services

    @Test func broker() throws {
        let plain = try parse(["broker"], as: AMC.Broker.self)
        #expect(plain.partitions == nil && plain.topics.isEmpty && plain.brokerCount == nil && plain.port == nil)
        let set = try parse(
            ["broker", "--partitions", "4", "--topic", "a", "--topic", "b", "--broker-count", "3", "--port", "9092"],
            as: AMC.Broker.self
        )
        #expect(set.partitions == 4 && set.topics == ["a", "b"] && set.brokerCount == 3 && set.port == 9092)
        #expect(failure(["broker", "--partitions", "many"]).contains("--partitions"))
    }

    @Test func produce() throws {
        let plain = try parse(["produce", "clicks.tsv"], as: AMC.Produce.self)
        #expect(plain.topic == nil && plain.rate == nil && plain.files == ["clicks.tsv"])
        let set = try parse(["produce", "--topic", "t", "--rate", "100", "a.tsv", "-"], as: AMC.Produce.self)
        #expect(set.topic == "t" && set.rate == 100 && set.files == ["a.tsv", "-"])
        #expect(failure(["produce"]).contains("Missing expected argument '<files> ...'"))
        #expect(failure(["produce", "--rate", "fast", "a"]).contains("--rate"))
    }

    @Test func ingest() throws {
        let plain = try parse(["ingest"], as: AMC.Ingest.self)
        #expect(plain.group == nil && plain.topics.isEmpty && plain.untilIdle == nil && plain.instanceID == nil)
        #expect(plain.batchSize == nil && plain.batchLatencyMs == nil)
        #expect(plain.metricsOptions.metricsPort == nil && plain.metricsOptions.metricsHost == nil)
        let set = try parse(
            [
                "ingest", "--group", "g", "--topic", "a", "--topic", "b", "--until-idle", "2.5", "--batch-size", "10",
                "--batch-latency-ms", "50", "--metrics-port", "9100", "--metrics-host", "0.0.0.0", "--instance-id",
                "ingest-0",
            ],
            as: AMC.Ingest.self
        )
        #expect(set.group == "g" && set.topics == ["a", "b"] && set.untilIdle == 2.5 && set.instanceID == "ingest-0")
        #expect(set.batchSize == 10 && set.batchLatencyMs == 50)
        #expect(set.metricsOptions.metricsPort == 9100 && set.metricsOptions.metricsHost == "0.0.0.0")
        #expect(failure(["ingest", "--until-idle", "soon"]).contains("--until-idle"))
    }

    @Test func serve() throws {
        let plain = try parse(["serve"], as: AMC.Serve.self)
        #expect(plain.port == nil && plain.host == nil)
        let set = try parse(["serve", "--port", "0", "--host", "0.0.0.0"], as: AMC.Serve.self)
        #expect(set.port == 0 && set.host == "0.0.0.0")
        #expect(failure(["serve", "--port", "http"]).contains("--port"))
    }

    @Test func learn() throws {
        let plain = try parse(["learn"], as: AMC.Learn.self)
        #expect(!plain.bootstrap && !plain.once && !plain.follow && !plain.noActivate && !plain.noBaselines)
        #expect(plain.bootstrapEpochs == nil && plain.finetuneEpochs == nil && plain.seed == nil)
        #expect(plain.bootstrapLearningRate == nil && plain.finetuneLearningRate == nil)
        #expect(plain.gateTolerance == nil && plain.intervalSeconds == nil)
        let set = try parse(
            [
                "learn", "--bootstrap", "--follow", "--bootstrap-epochs", "2", "--finetune-epochs", "3",
                "--bootstrap-learning-rate", "0.01", "--finetune-learning-rate", "0.02", "--gate-tolerance", "0.1",
                "--interval-seconds", "5", "--seed", "7", "--no-activate", "--no-baselines", "--metrics-port", "9",
            ],
            as: AMC.Learn.self
        )
        #expect(set.bootstrap && set.follow && !set.once && set.noActivate && set.noBaselines)
        #expect(set.bootstrapEpochs == 2 && set.finetuneEpochs == 3 && set.seed == 7)
        #expect(set.bootstrapLearningRate == 0.01 && set.finetuneLearningRate == 0.02)
        #expect(set.gateTolerance == 0.1 && set.intervalSeconds == 5 && set.metricsOptions.metricsPort == 9)
        #expect(try parse(["learn", "--once"], as: AMC.Learn.self).once)
        #expect(failure(["learn", "--once", "--follow"]).contains("--once and --follow exclude each other"))
        #expect(failure(["learn", "--seed", "x"]).contains("--seed"))
    }

    // MARK: - Data

    @Test func simulate() throws {
        let plain = try parse(["simulate"], as: AMC.Simulate.WorldFiles.self)
        #expect(plain.out == nil && plain.seed == nil && plain.images == nil && plain.concepts == nil)
        #expect(plain.queries == nil && plain.heldOut == nil && plain.visualShare == nil)
        #expect(!plain.shifted && !plain.jsonEvents)
        let set = try parse(
            [
                "simulate", "--out", "w", "--seed", "1", "--images", "10", "--concepts", "2", "--queries", "5",
                "--held-out", "3", "--visual-share", "0.25", "--shifted", "--json-events",
            ],
            as: AMC.Simulate.WorldFiles.self
        )
        #expect(set.out == "w" && set.seed == 1 && set.images == 10 && set.concepts == 2 && set.queries == 5)
        #expect(set.heldOut == 3 && set.visualShare == 0.25 && set.shifted && set.jsonEvents)
        #expect(failure(["simulate", "--visual-share", "half"]).contains("--visual-share"))
    }

    @Test func simulateUsers() throws {
        let plain = try parse(["simulate", "users"], as: AMC.Simulate.Users.self)
        #expect(plain.world == nil && plain.serve == nil && plain.topic == nil && plain.rate == nil)
        #expect(plain.duration == nil && plain.shiftAt == nil && plain.seed == nil && plain.examination == nil)
        #expect(
            plain.positionBias == nil && plain.pageSize == nil && plain.concurrency == nil && plain.clickRate == nil
        )
        let set = try parse(
            [
                "simulate", "users", "--world", "w", "--serve", "http://127.0.0.1:9000", "--topic", "t", "--rate",
                "250.5", "--concurrency", "16", "--duration", "60", "--shift-at", "30", "--seed", "7",
                "--examination", "cascade", "--position-bias", "1.2", "--page-size", "10", "--brokers", "k:1",
                "--click-rate", "400",
            ],
            as: AMC.Simulate.Users.self
        )
        #expect(set.world == "w" && set.serve == "http://127.0.0.1:9000" && set.topic == "t" && set.rate == 250.5)
        #expect(set.duration == 60 && set.shiftAt == 30 && set.seed == 7 && set.examination == "cascade")
        #expect(set.positionBias == 1.2 && set.pageSize == 10 && set.options.brokers == "k:1")
        #expect(set.concurrency == 16 && set.clickRate == 400)
        // The world command keeps its own options beside the subcommand.
        let world = try parse(["simulate", "--out", "w", "--seed", "3"], as: AMC.Simulate.WorldFiles.self)
        #expect(world.out == "w" && world.seed == 3)
        #expect(failure(["simulate", "users", "--rate", "fast"]).contains("--rate"))
        #expect(failure(["simulate", "users", "--out", "w"]).contains("--out"))
    }

    @Test func catalogImport() throws {
        let plain = try parse(["catalog", "import", "c.jsonl"], as: AMC.Catalog.Import.self)
        #expect(plain.batchSize == nil && plain.files == ["c.jsonl"])
        let set = try parse(["catalog", "import", "--batch-size", "5", "a", "-"], as: AMC.Catalog.Import.self)
        #expect(set.batchSize == 5 && set.files == ["a", "-"])
        #expect(failure(["catalog", "import"]).contains("Missing expected argument '<files> ...'"))
    }

    @Test func eval() throws {
        let plain = try parse(["eval", "--labels", "l.tsv"], as: AMC.Eval.self)
        #expect(plain.labels == "l.tsv" && plain.version == nil && !plain.json)
        let set = try parse(["eval", "--labels", "l.tsv", "--version", "3", "--json"], as: AMC.Eval.self)
        #expect(set.version == 3 && set.json)
        #expect(failure(["eval"]).contains("Missing expected argument '--labels <labels>'"))
        #expect(failure(["eval", "--labels", "l", "--version", "0"]).contains("--version must be at least 1, got 0"))
    }

    @Test func explain() throws {
        let plain = try parse(["explain", "red car", "img-1"], as: AMC.Explain.self)
        #expect(plain.query == "red car" && plain.image == "img-1" && plain.version == nil && !plain.json)
        #expect(!plain.numbers)
        let set = try parse(["explain", "q", "i", "--version", "4", "--json", "--numbers"], as: AMC.Explain.self)
        #expect(set.version == 4 && set.json && set.numbers)
        #expect(failure(["explain", "q"]).contains("Missing expected argument '<image>'"))
        #expect(failure(["explain", "q", "i", "--version", "0"]).contains("--version must be at least 1, got 0"))
    }

    @Test func retention() throws {
        let plain = try parse(["retention"], as: AMC.Retention.self)
        #expect(plain.keep == nil && plain.monthsAhead == nil && !plain.dryRun && plain.actor == nil && !plain.json)
        let set = try parse(
            ["retention", "--keep", "90d", "--months-ahead", "2", "--dry-run", "--actor", "ops", "--json"],
            as: AMC.Retention.self
        )
        #expect(set.keep == "90d" && set.monthsAhead == 2 && set.dryRun && set.actor == "ops" && set.json)
        #expect(failure(["retention", "--keep", "soon"]).contains("--keep must be a duration"))
        #expect(failure(["retention", "--actor", ""]).contains("--actor must not be empty"))
    }

    // MARK: - Registry and audit

    @Test func model() throws {
        #expect(!(try parse(["model", "list"], as: AMC.ModelCommand.List.self).json))
        let show = try parse(["model", "show", "4", "--json"], as: AMC.ModelCommand.Show.self)
        #expect(show.version == 4 && show.json)
        let export = try parse(["model", "export", "4", "--out", "w.bin"], as: AMC.ModelCommand.Export.self)
        #expect(export.version == 4 && export.out == "w.bin")
        let activate = try parse(["model", "activate", "2"], as: AMC.ModelCommand.Activate.self)
        #expect(activate.version == 2 && activate.reason == "activated by an operator" && activate.actor == nil)
        let activateSet = try parse(
            ["model", "activate", "2", "--reason", "why", "--actor", "me"],
            as: AMC.ModelCommand.Activate.self
        )
        #expect(activateSet.reason == "why" && activateSet.actor == "me")
        let rollback = try parse(["model", "rollback"], as: AMC.ModelCommand.Rollback.self)
        #expect(rollback.to == nil && rollback.reason == "rollback" && rollback.actor == nil)
        let rollbackSet = try parse(
            ["model", "rollback", "--to", "1", "--reason", "bad", "--actor", "me"],
            as: AMC.ModelCommand.Rollback.self
        )
        #expect(rollbackSet.to == 1 && rollbackSet.reason == "bad" && rollbackSet.actor == "me")
        #expect(failure(["model", "show"]).contains("Missing expected argument '<version>'"))
        #expect(failure(["model", "show", "four"]).contains("version"))
        #expect(failure(["model", "export", "1"]).contains("Missing expected argument '--out <out>'"))
        #expect(failure(["model", "rollback", "--to", "0"]).contains("--to must be at least 1, got 0"))
    }

    @Test func audit() throws {
        let pair = try parse(["audit", "pair", "red car", "img1"], as: AMC.Audit.Pair.self)
        #expect(pair.query == "red car" && pair.image == "img1" && !pair.json)
        #expect(try parse(["audit", "pair", "q", "i", "--json"], as: AMC.Audit.Pair.self).json)
        let version = try parse(["audit", "version", "3"], as: AMC.Audit.Version.self)
        #expect(version.version == 3 && !version.json)
        #expect(try parse(["audit", "activations", "--json"], as: AMC.Audit.Activations.self).json)
        #expect(failure(["audit", "pair", "q"]).contains("Missing expected argument '<image>'"))
    }

    @Test func deadLetters() throws {
        let list = try parse(["deadletters", "list"], as: AMC.DeadLetters.List.self)
        #expect(list.state == "pending" && list.reason == nil && list.topic == nil && list.limit == 50 && !list.json)
        let listSet = try parse(
            ["deadletters", "list", "--state", "all", "--reason", "r", "--topic", "t", "--limit", "5", "--json"],
            as: AMC.DeadLetters.List.self
        )
        #expect(listSet.state == "all" && listSet.reason == "r" && listSet.topic == "t" && listSet.limit == 5)
        #expect(listSet.json)
        #expect(failure(["deadletters", "list", "--limit", "0"]).contains("--limit must be at least 1"))

        let show = try parse(["deadletters", "show", "9", "--json"], as: AMC.DeadLetters.Show.self)
        #expect(show.id == 9 && show.json)

        let replay = try parse(["deadletters", "replay", "--id", "1", "--id", "2"], as: AMC.DeadLetters.Replay.self)
        #expect(replay.ids == [1, 2] && !replay.all && replay.batchSize == 1000 && replay.actor == nil)
        let replayAll = try parse(
            [
                "deadletters", "replay", "--all", "--reason", "r", "--topic", "t", "--batch-size", "10", "--actor",
                "me", "--json",
            ],
            as: AMC.DeadLetters.Replay.self
        )
        #expect(replayAll.all && replayAll.reason == "r" && replayAll.topic == "t" && replayAll.batchSize == 10)
        #expect(replayAll.actor == "me" && replayAll.json)
        #expect(failure(["deadletters", "replay"]).contains("pass either --id ID (repeatable) or --all"))
        #expect(failure(["deadletters", "replay", "--id", "1", "--all"]).contains("pass either --id"))
        #expect(failure(["deadletters", "replay", "--id", "1", "--reason", "r"]).contains("narrow --all"))
        #expect(failure(["deadletters", "replay", "--all", "--batch-size", "0"]).contains("--batch-size must be"))

        let purge = try parse(["deadletters", "purge", "--before", "30d"], as: AMC.DeadLetters.Purge.self)
        #expect(purge.before == "30d" && !purge.includePending && !purge.yes && purge.actor == nil && !purge.json)
        let purgeSet = try parse(
            ["deadletters", "purge", "--before", "2w", "--include-pending", "--yes", "--actor", "me", "--json"],
            as: AMC.DeadLetters.Purge.self
        )
        #expect(purgeSet.includePending && purgeSet.yes && purgeSet.actor == "me" && purgeSet.json)
        #expect(failure(["deadletters", "purge"]).contains("Missing expected argument '--before <before>'"))
        #expect(failure(["deadletters", "purge", "--before", "1d", "--actor", ""]).contains("--actor must not be"))
    }

    // MARK: - Demo and benchmarks

    @Test func demo() throws {
        let plain = try parse(["demo"], as: AMC.Demo.self)
        #expect(plain.clicks == nil && plain.directory == nil)
        let set = try parse(["demo", "--clicks", "c.tsv", "--directory", "/tmp/d"], as: AMC.Demo.self)
        #expect(set.clicks == "c.tsv" && set.directory == "/tmp/d")
    }

    @Test func benchIngest() throws {
        let plain = try parse(["bench", "ingest"], as: AMC.Bench.Ingest.self).benchmark
        #expect(plain.events == 1_000_000 && plain.queries == 50_000 && plain.imagesPerQuery == 30)
        #expect(plain.partitions == 8 && plain.lead == 200_000 && plain.steadyRate == 20_000)
        #expect(plain.steadySeconds == 10 && plain.referenceScript == "Benchmarks/reference_ingest.py")
        #expect(!plain.skipReference)
        let set = try parse(
            [
                "bench", "ingest", "--events", "2000", "--queries", "3", "--images-per-query", "4", "--partitions", "2",
                "--lead", "5000", "--steady-rate", "6", "--steady-seconds", "7", "--reference-script", "r.py",
                "--skip-reference",
            ],
            as: AMC.Bench.Ingest.self
        ).benchmark
        #expect(set.events == 2000 && set.queries == 3 && set.imagesPerQuery == 4 && set.partitions == 2)
        #expect(set.lead == 5000 && set.steadyRate == 6 && set.steadySeconds == 7 && set.referenceScript == "r.py")
        #expect(set.skipReference)
        #expect(failure(["bench", "ingest", "--events", "10"]).contains("events ≥ 1000"))
        #expect(failure(["bench", "ingest", "--partitions", "x"]).contains("--partitions"))
    }

    @Test func benchScore() throws {
        let plain = try parse(["bench", "score"], as: AMC.Bench.Score.self).benchmark
        #expect(plain.images == 2000 && plain.regions == 16 && plain.keywords == 30 && plain.candidates == 100)
        #expect(plain.queries == 2000 && plain.clients == 2 && plain.seconds == 5 && plain.rounds == 5)
        #expect(plain.inProcessRounds == 5)
        #expect(plain.warmup == 2 && plain.swaps == 50 && plain.rollbacks == 10 && plain.swapInterval == 100)
        #expect(!plain.reencode && plain.seed == 42 && plain.reference == "Benchmarks/reference_score.py")
        #expect(plain.python == "python3" && !plain.skipReference && !plain.keep)
        #expect(plain.onnxReference == "Benchmarks/reference_score_onnx.py" && !plain.skipOnnxReference)
        let set = try parse(
            [
                "bench", "score", "--images", "300", "--regions", "4", "--keywords", "6", "--candidates", "50",
                "--queries", "100", "--in-process-rounds", "1", "--clients", "3", "--seconds", "1.5", "--rounds", "2",
                "--warmup", "0",
                "--swaps", "4", "--rollbacks", "0", "--swap-interval", "20", "--reencode", "--seed", "9",
                "--reference", "r.py", "--python", "/usr/bin/python3", "--skip-reference", "--keep",
                "--onnx-reference", "o.py", "--skip-onnx-reference",
            ],
            as: AMC.Bench.Score.self
        ).benchmark
        #expect(set.onnxReference == "o.py" && set.skipOnnxReference)
        #expect(set.images == 300 && set.regions == 4 && set.keywords == 6 && set.candidates == 50)
        #expect(set.queries == 100 && set.clients == 3 && set.seconds == 1.5 && set.rounds == 2 && set.warmup == 0)
        #expect(set.inProcessRounds == 1)
        #expect(set.swaps == 4 && set.rollbacks == 0 && set.swapInterval == 20 && set.reencode && set.seed == 9)
        #expect(set.reference == "r.py" && set.python == "/usr/bin/python3" && set.skipReference && set.keep)
        #expect(plain.architectures.first == "amc" && plain.architectures.contains("late_fusion"))
        #expect(plain.modelReference == "Benchmarks/reference_score_model.py")
        let picked = try parse(
            ["bench", "score", "--architectures", "late_fusion, amc", "--model-reference", "m.py"],
            as: AMC.Bench.Score.self
        ).benchmark
        #expect(picked.architectures == ["late_fusion", "amc"] && picked.modelReference == "m.py")
        #expect(
            failure(["bench", "score", "--architectures", "amc,nope"])
                .contains("unknown architecture nope; known: amc, ")
        )
        #expect(failure(["bench", "score", "--rounds", "9", "--swaps", "3"]).contains("1 ≤ rounds ≤ swaps"))
        #expect(
            failure(["bench", "score", "--queries", "100", "--in-process-rounds", "6"])
                .contains("1 ≤ in-process-rounds ≤ queries / 20")
        )
        #expect(
            failure(["bench", "score", "--images", "5000", "--candidates", "5000"])
                .contains("candidates must be at most")
        )
    }

    @Test func benchScale() throws {
        let plain = try parse(["bench", "scale"], as: AMC.Bench.Scale.self).benchmark
        #expect(plain.sizes == [10_000, 100_000, 1_000_000] && plain.tableEvents == [1_000_000, 10_000_000])
        #expect(plain.ingestEvents == 1_000_000 && plain.regions == 16)
        #expect(plain.keywords == 30 && plain.requests == 1000)
        #expect(plain.catalogMemory == nil && plain.plot == nil && plain.timeout == .seconds(3600))
        #expect(plain.partitions == 8 && plain.seed == 42 && !plain.executable.isEmpty)
        let set = try parse(
            [
                "bench", "scale", "--sizes", "10000", "100000", "--events", "1000000", "--ingest-events", "5000",
                "--regions", "4", "--keywords", "6", "--requests", "20", "--catalog-memory", "64MiB", "--plot",
                "Docs/benchmarks/scale.svg", "--amc", "/bin/amc", "--timeout-seconds", "60", "--partitions", "2",
                "--seed", "7",
            ],
            as: AMC.Bench.Scale.self
        ).benchmark
        #expect(set.sizes == [10_000, 100_000] && set.tableEvents == [1_000_000] && set.ingestEvents == 5000)
        #expect(set.regions == 4 && set.keywords == 6 && set.requests == 20 && set.catalogMemory == "64MiB")
        #expect(set.plot == "Docs/benchmarks/scale.svg" && set.executable == "/bin/amc" && set.timeout == .seconds(60))
        #expect(set.partitions == 2 && set.seed == 7)
        let catalogOnly = try parse(["bench", "scale", "--sizes", "1000", "--skip-ingest"], as: AMC.Bench.Scale.self)
        #expect(catalogOnly.benchmark.sizes == [1000] && catalogOnly.benchmark.tableEvents.isEmpty)
        #expect(failure(["bench", "scale", "--sizes", "50"]).contains("sizes ≥ 100"))
        #expect(failure(["bench", "scale", "--ingest-events", "10"]).contains("ingest-events ≥ 1000"))
        #expect(failure(["bench", "scale", "--timeout-seconds", "0"]).contains("timeout-seconds ≥ 1"))
    }

    @Test func benchAdapt() throws {
        let plain = try parse(["bench", "adapt"], as: AMC.Bench.Adapt.self).benchmark
        #expect(plain.rate == 2000 && plain.duration == 150 && plain.shiftAt == 30 && plain.concurrency == 32)
        #expect(plain.architecture == "amc" && plain.baselineInterval == 30 && plain.minCycleSpacing == 1)
        #expect(plain.tolerance == 0.01 && plain.settle == 60 && plain.adminURL == nil && !plain.skipBaseline)
        #expect(plain.images == 5000 && plain.concepts == 50 && plain.queries == 2000 && plain.heldOut == 500)
        #expect(plain.seed == 42 && plain.gateTolerance == 0.005 && plain.shiftedShare == 0.5)
        let set = try parse(
            [
                "bench", "adapt", "--rate", "500", "--duration", "40", "--shift-at", "10", "--concurrency", "8",
                "--architecture", "late_fusion", "--baseline-interval", "20", "--min-cycle-spacing", "0.5",
                "--tolerance", "0.02", "--gate-tolerance", "1", "--settle", "30", "--images", "600", "--concepts", "8",
                "--queries", "200",
                "--held-out", "50", "--shifted-share", "1", "--seed", "7", "--admin-url",
                "postgresql://postgres@127.0.0.1:5432",
                "--skip-baseline",
            ],
            as: AMC.Bench.Adapt.self
        ).benchmark
        #expect(set.rate == 500 && set.duration == 40 && set.shiftAt == 10 && set.concurrency == 8)
        #expect(set.architecture == "late_fusion" && set.baselineInterval == 20 && set.minCycleSpacing == 0.5)
        #expect(set.tolerance == 0.02 && set.gateTolerance == 1 && set.settle == 30 && set.skipBaseline)
        #expect(set.images == 600 && set.concepts == 8 && set.queries == 200 && set.heldOut == 50 && set.seed == 7)
        #expect(set.shiftedShare == 1)
        #expect(set.adminURL == "postgresql://postgres@127.0.0.1:5432")
        #expect(failure(["bench", "adapt", "--shift-at", "200"]).contains("0 ≤ shift-at < duration"))
        #expect(failure(["bench", "adapt", "--architecture", "nope"]).contains("unknown architecture nope"))
    }

    @Test func benchLearn() throws {
        let plain = try parse(["bench", "learn"], as: AMC.Bench.Learn.self).benchmark
        #expect(plain.examples == 2000 && plain.images == 1000 && plain.regions == 16 && plain.keywords == 20)
        #expect(plain.negatives == 4 && plain.batch == 16 && plain.seconds == 5 && plain.checkSteps == 10)
        #expect(plain.seed == 42 && plain.reference == "Benchmarks/reference_learn.py" && plain.python == "python3")
        #expect(!plain.skipReference && !plain.keep)
        let set = try parse(
            [
                "bench", "learn", "--examples", "100", "--images", "20", "--regions", "0", "--keywords", "0",
                "--negatives", "2", "--batch", "8", "--seconds", "0.5", "--check-steps", "2", "--seed", "3",
                "--reference", "r.py", "--python", "py", "--skip-reference", "--keep",
            ],
            as: AMC.Bench.Learn.self
        ).benchmark
        #expect(set.examples == 100 && set.images == 20 && set.regions == 0 && set.keywords == 0)
        #expect(set.negatives == 2 && set.batch == 8 && set.seconds == 0.5 && set.checkSteps == 2 && set.seed == 3)
        #expect(set.reference == "r.py" && set.python == "py" && set.skipReference && set.keep)
        #expect(plain.architectures == BenchScore().architectures)
        let picked = try parse(["bench", "learn", "--architectures", "late_fusion"], as: AMC.Bench.Learn.self)
        #expect(picked.benchmark.architectures == ["late_fusion"])
        #expect(failure(["bench", "learn", "--architectures", "casc2"]).contains("unknown architecture casc2"))
        #expect(failure(["bench", "learn", "--check-steps", "200"]).contains("check-steps × batch ≤ examples"))
        #expect(failure(["bench", "learn", "--regions", "0"]).contains("the reference needs every image"))
    }

    // MARK: - Helpers

    private func parse<Command: ParsableCommand>(_ arguments: [String], as type: Command.Type) throws -> Command {
        let parsed = try AMC.parseAsRoot(arguments)
        return try #require(parsed as? Command, "parsed \(Swift.type(of: parsed)), not \(Command.self)")
    }

    /// The message `amc` prints for `arguments`, or "" when they parse.
    private func failure(_ arguments: [String]) -> String {
        do {
            _ = try AMC.parseAsRoot(arguments)
            return ""
        } catch {
            return AMC.message(for: error)
        }
    }
}
