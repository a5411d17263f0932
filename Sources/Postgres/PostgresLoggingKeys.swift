/// Logger metadata keys used by this module.
enum PostgresLoggingKeys {
    static let database = "postgres.database"
    static let host = "postgres.host"
    static let backendPID = "postgres.backend_pid"
    static let sqlState = "postgres.sqlstate"
    static let message = "postgres.message"
    static let attempt = "postgres.connect.attempt"
    static let delay = "postgres.connect.delay_ms"
    static let migrationVersion = "postgres.migration.version"
    static let migrationName = "postgres.migration.name"
    static let rows = "postgres.rows"
    static let dataDirectory = "postgres.server.data_directory"
    static let port = "postgres.server.port"
}
