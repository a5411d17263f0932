import ArgumentParser
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Serving

/// `--metrics-port` / `--metrics-host`: Prometheus `GET /metrics` for `amc ingest` and `amc learn` (`amc serve`
/// has it on its own port).
struct MetricsOptions: ParsableArguments {
    @Option(help: "Serve Prometheus GET /metrics (and /healthz) on this port (key metrics.port). Default: off.")
    var metricsPort: Int?

    @Option(
        help: "Address the metrics port binds, 0.0.0.0 to be scraped remotely (key metrics.host). Default: 127.0.0.1."
    )
    var metricsHost: String?

    /// Adds the options to the command-line configuration layer.
    func set(into flags: inout FlagValues) {
        flags.set("metrics.port", metricsPort, flag: "--metrics-port")
        flags.set("metrics.host", metricsHost, flag: "--metrics-host")
    }
}

extension Settings {
    /// When `metrics.port` is set: routes this process's swift-metrics into a Prometheus registry (exported names
    /// `amc_<label>`, see ``PrometheusNamingFactory``) and returns the service serving it. Call before creating
    /// the services whose metrics it should export; once per process.
    func metricsEndpoint(logger: Logger) throws -> ServiceGroupConfiguration.ServiceConfiguration? {
        let host = try reader.nonEmptyString(forKey: "metrics.host", default: "127.0.0.1")
        guard let port = try reader.int(forKey: "metrics.port", bounds: .port) else { return nil }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusNamingFactory(registry: registry))
        var serverLogger = logger
        serverLogger[metadataKey: "metrics.port"] = "\(port)"
        let application = MetricsEndpoint.buildApplication(
            host: host,
            port: port,
            registry: registry,
            logger: serverLogger,
            onServerRunning: { bound in
                logger.info("Metrics endpoint listening", metadata: ["metrics.address": "\(host):\(bound)"])
            }
        )
        return .init(service: application)
    }
}
