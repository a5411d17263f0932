import ArgumentParser
import CommandSupport
import Foundation
import Simulation

extension AMC {
    /// `amc simulate`: writes a world (``WorldFiles``, the default) or runs its users against a scorer (``Users``).
    ///
    /// Options live on the subcommands only: the argument parser lets a parent's options appear after a
    /// subcommand's name too, so options both declare (`--seed`, the global ones) would go to the parent.
    struct Simulate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a synthetic Clickture-style world, or run its simulated users against amc serve.",
            usage: """
                amc simulate --out <out> [--seed <seed>] [--shifted] [--json-events] [<options>]
                amc simulate users --world <world> [--serve <serve>] [--topic <topic>] [<options>]
                """,
            subcommands: [WorldFiles.self, Users.self],
            defaultSubcommand: WorldFiles.self
        )
    }
}

extension AMC.Simulate {
    /// `amc simulate [world]`: writes a deterministic synthetic Clickture-style world (design §4).
    struct WorldFiles: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "world",
            abstract:
                "Write a synthetic Clickture-style world: catalog.jsonl, clicks.tsv, dev-labels.tsv, world.json.",
            usage: "amc simulate --out <out> [--seed <seed>] [--shifted] [--json-events] [<options>]"
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Output folder, created if missing (key simulate.out).")
        var out: String?

        @Option(help: "Seed of every random choice (key simulate.seed). Default: 42.")
        var seed: Int?

        @Option(help: "Number of images (key simulate.images). Default: 5000.")
        var images: Int?

        @Option(help: "Number of latent concepts (key simulate.concepts). Default: 50.")
        var concepts: Int?

        @Option(help: "Number of training queries (key simulate.queries). Default: 2000.")
        var queries: Int?

        @Option(help: "Number of held-out labelled queries (key simulate.held-out). Default: 500.")
        var heldOut: Int?

        @Option(help: "Share of visual-intent concepts, 0…1 (key simulate.visual-share). Default: 0.5.")
        var visualShare: Double?

        @Flag(help: "Also write clicks-shifted.tsv, where some visual-intent queries turn textual.")
        var shifted = false

        @Flag(help: "Also write clicks.jsonl: one JSON event per click, with position and impressions.")
        var jsonEvents = false

        func run() async throws {
            var flags = FlagValues()
            flags.set("simulate.out", out, flag: "--out")
            flags.set("simulate.seed", seed, flag: "--seed")
            flags.set("simulate.images", images, flag: "--images")
            flags.set("simulate.concepts", concepts, flag: "--concepts")
            flags.set("simulate.queries", queries, flag: "--queries")
            flags.set("simulate.held-out", heldOut, flag: "--held-out")
            flags.set("simulate.visual-share", visualShare, flag: "--visual-share")
            let settings = try await options.resolve(extra: flags)
            let reader = settings.reader
            guard let directory = try reader.string(forKey: "simulate.out"), !directory.isEmpty else {
                throw CommandError("no output folder: pass --out DIR (or set simulate.out)")
            }
            var configuration = WorldConfiguration()
            let seed = try reader.int(forKey: "simulate.seed", default: Int(configuration.seed), bounds: .atLeast(0))
            configuration.seed = UInt64(seed)
            let count = ConfigBounds<Int>.within(1...10_000_000)
            configuration.images = try reader.int(
                forKey: "simulate.images",
                default: configuration.images,
                bounds: count
            )
            configuration.concepts = try reader.int(
                forKey: "simulate.concepts",
                default: configuration.concepts,
                bounds: count
            )
            configuration.trainingQueries = try reader.int(
                forKey: "simulate.queries",
                default: configuration.trainingQueries,
                bounds: count
            )
            configuration.heldOutQueries = try reader.int(
                forKey: "simulate.held-out",
                default: configuration.heldOutQueries,
                bounds: .within(0...10_000_000)
            )
            configuration.visualShare = try reader.double(
                forKey: "simulate.visual-share",
                default: configuration.visualShare,
                bounds: .within(0...1)
            )
            if let problem = configuration.problem { throw CommandError("cannot simulate: \(problem)") }
            let world = configuration
            let shifted = shifted
            let jsonEvents = jsonEvents
            let written = try await onBlockingThread {
                try Self.generate(world, into: directory, shifted: shifted, jsonEvents: jsonEvents)
            }
            for line in written { print(line) }
        }

        /// Generates the world and writes its files; returns one summary line per file and one for the world.
        private static func generate(
            _ configuration: WorldConfiguration,
            into directory: String,
            shifted: Bool,
            jsonEvents: Bool
        ) throws -> [String] {
            let folder = URL(fileURLWithPath: directory, isDirectory: true)
            do {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            } catch {
                throw CommandError("cannot create \(directory): \(error.localizedDescription)")
            }
            let world = World(configuration: configuration)
            let clicks = world.clicks()
            var lines: [String] = []
            func write(_ name: String, _ text: String, _ what: String) throws {
                let url = folder.appendingPathComponent(name)
                do {
                    try Data(text.utf8).write(to: url, options: .atomic)
                } catch {
                    throw CommandError("cannot write \(url.path): \(error.localizedDescription)")
                }
                lines.append("wrote \(url.path): \(what)")
            }
            let visual = world.concepts.filter { $0.intent == .visual }.count
            lines.append(
                "world seed \(configuration.seed): \(world.concepts.count) concepts (\(visual) visual, "
                    + "\(world.concepts.count - visual) textual), \(world.images.count) images "
                    + "(\(world.images.filter(\.isNewUpload).count) new uploads)"
            )
            try write(
                "catalog.jsonl",
                world.catalogJSONL(),
                "\(world.images.count) images, regions \(configuration.regions)×\(configuration.dimension)"
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try write(
                WorldConfiguration.fileName,
                String(decoding: try encoder.encode(configuration), as: UTF8.self) + "\n",
                "the world's configuration (amc simulate users regenerates the world's truth from it)"
            )
            let clickTotal = clicks.triads.reduce(0) { $0 + $1.clicks }
            try write(
                "clicks.tsv",
                world.clicksTSV(clicks),
                "\(clicks.triads.count) triads, \(clickTotal) clicks, \(world.trainingQueries.count) queries"
            )
            let labels = world.heldOutQueries.flatMap { $0.candidates.map(\.label) }
            let excellent = labels.filter { $0 == .excellent }.count
            let good = labels.filter { $0 == .good }.count
            try write(
                "dev-labels.tsv",
                world.devLabelsTSV(),
                "\(world.heldOutQueries.count) held-out queries, \(labels.count) labels "
                    + "(\(excellent) Excellent, \(good) Good, \(labels.count - excellent - good) Bad)"
            )
            if shifted {
                let stream = world.clicks(shifted: true)
                let moved = world.trainingQueries.filter(\.shifts).count
                let concepts = world.concepts.filter(\.shifts).count
                try write(
                    "clicks-shifted.tsv",
                    world.clicksTSV(stream),
                    "\(stream.triads.count) triads; \(moved) queries of \(concepts) visual concepts turned textual"
                )
                try write(
                    "dev-labels-shifted.tsv",
                    world.devLabelsTSV(shifted: true),
                    "the held-out labels with the shifted concepts' queries labelled by their tags"
                )
            }
            if jsonEvents {
                try write("clicks.jsonl", world.clickEventsJSONL(clicks), "\(clicks.events.count) click events")
            }
            return lines
        }
    }
}
