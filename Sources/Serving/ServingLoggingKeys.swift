import Logging

/// Metadata keys of the scoring worker's logs.
enum ServingLoggingKeys {
    static let version: Logger.Metadata.Key = "amc.serve.version"
    static let previousVersion: Logger.Metadata.Key = "amc.serve.previous_version"
    static let images: Logger.Metadata.Key = "amc.serve.catalog_images"
    static let duration: Logger.Metadata.Key = "amc.serve.load_duration"
    static let reused: Logger.Metadata.Key = "amc.serve.reused_encodings"
    static let delay: Logger.Metadata.Key = "amc.serve.retry_delay"
    static let reason: Logger.Metadata.Key = "amc.serve.reason"
    static let configured: Logger.Metadata.Key = "amc.serve.max_connections_configured"
    static let connections: Logger.Metadata.Key = "amc.serve.max_connections"
    static let descriptors: Logger.Metadata.Key = "amc.serve.descriptor_limit"
    static let rankings: Logger.Metadata.Key = "amc.serve.rankings"
    static let experiment: Logger.Metadata.Key = "amc.serve.experiment"
    static let kind: Logger.Metadata.Key = "amc.serve.experiment_kind"
}
