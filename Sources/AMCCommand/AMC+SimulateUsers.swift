import ArgumentParser
import CommandSupport
import Foundation
import Logging
import ServiceLifecycle
import Simulation
import UnixSignals
import UserSimulation

extension AMC.Simulate {
    /// `amc simulate users`: simulated users of a world query `amc serve`, click on what it ranks, and produce the
    /// click events into Kafka (design §4; Docs/simulation.md, "Simulated users").
    struct Users: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Simulated users of a world query amc serve, click on its rankings and produce the clicks.",
            usage: """
                amc simulate users --world <world> [--serve <serve>] [--topic <topic>] [--rate <rate>] \
                [--duration <duration>] [--shift-at <shift-at>] [--seed <seed>] [<options>]
                """,
            discussion: """
                Reads the world amc simulate --out DIR wrote (world.json, checked against catalog.jsonl), sends its \
                training queries with their candidates to POST /v1/score at --rate queries per second (or paced to \
                --click-rate clicks per second; at most --concurrency in flight), lets \
                position-biased users click by the world's truth and produces one JSON click event per click \
                (impressions, position, session, ranking) to --topic, keyed by the normalised query. At --shift-at \
                the shifting concepts' users click by the tags, as amc simulate --shifted does offline. Runs for \
                --duration seconds or until SIGTERM/SIGINT, flushes the producer and prints a summary.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "The folder amc simulate --out wrote (key simulate.users.world).")
        var world: String?

        @Option(help: "Base URL of amc serve (key simulate.users.serve). Default: http://127.0.0.1:8080.")
        var serve: String?

        @Option(help: "Topic to produce the click events to (key simulate.users.topic). Default: clicks.")
        var topic: String?

        @Option(help: "Queries per second, evenly paced (key simulate.users.rate). Default: 10.")
        var rate: Double?

        @Option(
            help: ArgumentHelp(
                "Clicks per second to pace the queries by: --rate is then the starting pace, and from the 200th "
                    + "answered query the pace follows the recent clicks per query (key simulate.users.click-rate). "
                    + "Default: pace by --rate alone."
            )
        )
        var clickRate: Double?

        @Option(
            help: ArgumentHelp(
                "Most queries in flight at once, each started at its paced time (key simulate.users.concurrency). "
                    + "Default: 1."
            )
        )
        var concurrency: Int?

        @Option(help: "Seconds to run (key simulate.users.duration). Default: until SIGTERM or SIGINT.")
        var duration: Double?

        @Option(
            help: "Seconds after the start at which the shifting concepts' intent shifts (key simulate.users.shift-at)."
        )
        var shiftAt: Double?

        @Option(help: "Seed of the users' choices (key simulate.users.seed). Default: 1.")
        var seed: Int?

        @Option(help: "position-based or cascade (key simulate.users.examination). Default: position-based.")
        var examination: String?

        @Option(
            help:
                "Exponent k of the position-based examination 1/(rank+1)^k (key simulate.users.position-bias). Default: the world's, 0.7."
        )
        var positionBias: Double?

        @Option(
            help: "Results shown per page, the request's top (key simulate.users.page-size). Default: all candidates."
        )
        var pageSize: Int?

        func run() async throws {
            var flags = FlagValues()
            flags.set("simulate.users.world", world, flag: "--world")
            flags.set("simulate.users.serve", serve, flag: "--serve")
            flags.set("simulate.users.topic", topic, flag: "--topic")
            flags.set("simulate.users.rate", rate, flag: "--rate")
            flags.set("simulate.users.click-rate", clickRate, flag: "--click-rate")
            flags.set("simulate.users.concurrency", concurrency, flag: "--concurrency")
            flags.set("simulate.users.duration", duration, flag: "--duration")
            flags.set("simulate.users.shift-at", shiftAt, flag: "--shift-at")
            flags.set("simulate.users.seed", seed, flag: "--seed")
            flags.set("simulate.users.examination", examination, flag: "--examination")
            flags.set("simulate.users.position-bias", positionBias, flag: "--position-bias")
            flags.set("simulate.users.page-size", pageSize, flag: "--page-size")
            let settings = try await options.resolve(extra: flags)
            let (folder, configuration, examinationChoice, bias) = try settings.userSimulation()
            let logger = Logger(label: "amc.simulate.users")
            let world = try await onBlockingThread { try WorldFolder.load(folder) }
            var resolved = configuration
            resolved.model.examination =
                examinationChoice == "cascade"
                ? .cascade : .positionBased(exponent: bias ?? world.configuration.positionBiasExponent)
            let users = SimulatedUsers(world: world, model: resolved.model, seed: resolved.seed)
            let driver = UserSimulationDriver(
                users: users,
                configuration: resolved,
                kafka: try settings.kafkaConfig(),
                logger: logger
            )
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: driver, successTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
            let report = driver.report
            for line in report.summaryLines { print(line) }
            if report.notDelivered > 0 {
                throw CommandError("\(report.notDelivered) click event(s) were not delivered")
            }
            if report.visits > 0 && report.tally.pages == 0 {
                throw CommandError("no scoring request succeeded: \(report.lastFailure ?? "no answer")")
            }
        }
    }
}

extension Settings {
    /// The `simulate.users.*` settings, checked: the world folder, the driver's configuration (its examination
    /// model still the default), the examination choice and the position-bias exponent if one was given.
    func userSimulation() throws -> (
        world: String, configuration: UserSimulationConfiguration, examination: String, positionBias: Double?
    ) {
        guard let world = try reader.string(forKey: "simulate.users.world"), !world.isEmpty else {
            throw CommandError(
                "no world: pass --world DIR, a folder amc simulate --out wrote (or set simulate.users.world)"
            )
        }
        var configuration = UserSimulationConfiguration()
        let serve = try reader.nonEmptyString(
            forKey: "simulate.users.serve",
            default: configuration.serveURL.absoluteString
        )
        guard let url = URL(string: serve), url.scheme == "http", url.host != nil else {
            throw CommandError(
                "simulate.users.serve must be an http URL such as http://127.0.0.1:8080 (the scorer serves plain HTTP)"
            )
        }
        configuration.serveURL = url
        configuration.topic = try reader.nonEmptyString(forKey: "simulate.users.topic", default: configuration.topic)
        configuration.rate = try reader.double(
            forKey: "simulate.users.rate",
            default: configuration.rate,
            bounds: .within(0.001...1_000_000)
        )
        configuration.clickRate = try reader.double(
            forKey: "simulate.users.click-rate",
            bounds: .within(0.001...1_000_000)
        )
        configuration.concurrency = try reader.int(
            forKey: "simulate.users.concurrency",
            default: configuration.concurrency,
            bounds: .within(1...10_000)
        )
        if let seconds = try reader.double(forKey: "simulate.users.duration", bounds: .positiveSeconds) {
            configuration.duration = .seconds(seconds)
        }
        if let seconds = try reader.double(forKey: "simulate.users.shift-at", bounds: .within(0...1e9)) {
            configuration.shiftAt = .seconds(seconds)
        }
        let seed = try reader.int(forKey: "simulate.users.seed", default: Int(configuration.seed), bounds: .atLeast(0))
        configuration.seed = UInt64(seed)
        let examination = try reader.string(
            forKey: "simulate.users.examination",
            default: "position-based",
            oneOf: ["position-based", "cascade"]
        )
        let bias = try reader.double(forKey: "simulate.users.position-bias", bounds: .within(0...100))
        configuration.model.pageSize = try reader.int(forKey: "simulate.users.page-size", bounds: .within(1...10_000))
        return (world, configuration, examination, bias)
    }
}
