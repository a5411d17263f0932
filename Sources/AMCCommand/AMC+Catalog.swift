import ArgumentParser
import Catalog
import CommandSupport
import Foundation
import Logging
import Postgres

extension AMC {
    /// `amc catalog`: the image catalog (design §3, §4).
    struct Catalog: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage the image catalog.",
            subcommands: [Import.self]
        )
    }
}

extension AMC.Catalog {
    /// `amc catalog import FILE…|-`: loads or updates images from JSON Lines, upserting by key.
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load or update images from catalog JSON Lines (upsert by key).",
            discussion: """
                Each line is {"image", "keywords", "regions"} or {"image", "keywords", "regions_b64", "shape"}. \
                Bad lines are reported on stderr as FILE:LINE: code: message and skipped; good lines are stored. \
                The exit status is non-zero when any line was rejected. See Docs/catalog.md.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Images per transaction (key catalog.batchSize). Default: 1000.")
        var batchSize: Int?

        @Argument(help: "Catalog files (JSON Lines), in order; - reads standard input.")
        var files: [String]

        /// Rejected lines printed individually; the rest are only counted.
        static let maxPrintedRejections = 100

        func validate() throws {
            guard !files.isEmpty else { throw ValidationError("name at least one FILE (or - for standard input)") }
        }

        func run() async throws {
            var flags = FlagValues()
            flags.set("catalog.batchSize", batchSize, flag: "--batch-size")
            let settings = try await options.resolve(extra: flags)
            let url = try settings.databaseURL()
            let batchSize = try settings.reader.int(
                forKey: "catalog.batchSize",
                default: 1000,
                bounds: .within(1...1_000_000)
            )
            let logger = Logger(label: "amc.catalog")
            let files = files
            let summary = try await onBlockingThread {
                // Open every file first, so a typo in the last name does not leave a half-done import.
                var readers = try files.map { (name: $0 == "-" ? "stdin" : $0, reader: try LineReader(path: $0)) }
                let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
                defer { connection.close() }
                let store = CatalogStore(connection: connection)
                var importer = CatalogImporter(
                    store: store,
                    dimension: try store.regionDimension(),
                    batchSize: batchSize
                )
                let totalBytes = files.contains("-") ? nil : files.reduce(0) { $0 + Self.fileSize($1) }
                var bar = ProgressBar(label: "catalog import", total: totalBytes)
                var readSoFar = 0
                for index in readers.indices {
                    var lineNumber = 0
                    while let line = try readers[index].reader.next() {
                        lineNumber += 1
                        if let rejection = try importer.add(line),
                            importer.summary.rejected <= Self.maxPrintedRejections
                        {
                            Self.printError("\(readers[index].name):\(lineNumber): \(rejection)")
                        }
                        bar.update(done: readSoFar + readers[index].reader.bytesRead, unit: "bytes")
                    }
                    readSoFar += readers[index].reader.bytesRead
                }
                try importer.flush()
                bar.finish(done: readSoFar, unit: "bytes")
                return importer.summary
            }
            if summary.rejected > Self.maxPrintedRejections {
                let hidden = summary.rejected - Self.maxPrintedRejections
                Self.printError("… and \(hidden) more rejected line(s) not shown")
            }
            print(
                "imported \(summary.inserted + summary.updated) images (\(summary.inserted) new, "
                    + "\(summary.updated) updated), rejected \(summary.rejected) lines"
            )
            guard summary.rejected == 0 else {
                throw CommandError(
                    "\(summary.rejected) line(s) were rejected; the \(summary.inserted + summary.updated) accepted "
                        + "image(s) were stored"
                )
            }
        }

        /// Writes one line to stderr, first clearing a progress bar drawn on a terminal.
        private static func printError(_ line: String) {
            let clear = isatty(STDERR_FILENO) == 1 ? "\r\u{1B}[K" : ""
            FileHandle.standardError.write(Data((clear + line + "\n").utf8))
        }

        private static func fileSize(_ path: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
        }
    }
}

/// Parses catalog lines and upserts the accepted images in batches; the catalog's D is fixed by the stored catalog
/// or else by the first accepted line.
struct CatalogImporter {
    struct Summary: Sendable {
        var inserted = 0
        var updated = 0
        var rejected = 0
    }

    let store: CatalogStore
    private(set) var dimension: Int?
    let batchSize: Int
    private var pending: [CatalogImage] = []
    private(set) var summary = Summary()

    init(store: CatalogStore, dimension: Int?, batchSize: Int) {
        self.store = store
        self.dimension = dimension
        self.batchSize = batchSize
        pending.reserveCapacity(batchSize)
    }

    /// Parses one line (blank lines are skipped); a rejected line is counted and its reason returned.
    /// - Throws: A ``CommandError`` when a batch could not be stored.
    mutating func add(_ line: ArraySlice<UInt8>) throws -> CatalogLineError? {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return nil }
        let image: CatalogImage
        do throws(CatalogLineError) {
            guard let text = String(validating: line, as: UTF8.self) else {
                throw CatalogLineError(code: "invalid_json", message: "the line is not valid UTF-8")
            }
            image = try CatalogParser.parse(text, expectedDimension: dimension)
        } catch {
            summary.rejected += 1
            return error
        }
        dimension = dimension ?? image.regionDimension
        pending.append(image)
        if pending.count >= batchSize { try flush() }
        return nil
    }

    /// Stores the pending images.
    /// - Throws: A ``CommandError`` naming how many images were stored before the failure.
    mutating func flush() throws {
        guard !pending.isEmpty else { return }
        do {
            let (inserted, updated) = try store.upsert(pending)
            summary.inserted += inserted
            summary.updated += updated
            pending.removeAll(keepingCapacity: true)
        } catch {
            throw CommandError(
                "catalog import failed after storing \(summary.inserted + summary.updated) image(s): \(error)"
            )
        }
    }
}
