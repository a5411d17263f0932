import ArgumentParser
import CommandSupport
import Logging
import Postgres

extension AMC {
    /// `amc migrate`: applies `Migrations/NNNN_name.sql` in order, once each, recorded with checksums.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply database migrations in order, once each; refuse if an applied file changed."
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Folder of NNNN_name.sql files (key database.migrations). Default: ./Migrations.")
        var migrations: String?

        func run() async throws {
            var flags = FlagValues()
            flags.set("database.migrations", migrations, flag: "--migrations")
            let settings = try await options.resolve(extra: flags)
            let url = try settings.databaseURL()
            let directory = try settings.migrationsDirectory()
            let logger = Logger(label: "amc.migrate")
            let migrator = Migrator(directory: directory)
            do {
                // Read and check the files before connecting: a missing folder or a gap in the sequence is refused
                // up front, with nothing applied.
                _ = try migrator.migrations()
            } catch let error as MigrationError where error.code == .missingDirectory {
                throw CommandError("\(error.message); pass --migrations DIR")
            }
            let applied = try await onBlockingThread {
                let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
                defer { connection.close() }
                return try migrator.migrate(connection).map { "\($0.version)_\($0.name)" }
            }
            if applied.isEmpty {
                print("schema is up to date")
            } else {
                print("applied \(applied.count) migration(s): \(applied.joined(separator: ", "))")
            }
        }
    }
}
