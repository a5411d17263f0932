import CoreMetrics
import Hummingbird
import Logging
import Prometheus

/// `GET /metrics` (and `GET /healthz`) for the processes without the scoring API — `amc ingest` and `amc learn`
/// with `--metrics-port` — rendering the swift-metrics they record through a ``PrometheusNamingFactory``.
public enum MetricsEndpoint {
    /// Builds the HTTP application: run it as a `Service` beside the process's own service; it stops on graceful
    /// shutdown.
    /// - Parameters:
    ///   - host: Address to bind (`0.0.0.0` to be scraped from other hosts).
    ///   - port: Port to bind; 0 picks a free one (reported to `onServerRunning`).
    ///   - registry: The registry the process's metrics factory writes to.
    ///   - logger: The server's logger.
    ///   - onServerRunning: Called with the bound port once the server listens.
    /// - Returns: The application.
    public static func buildApplication(
        host: String,
        port: Int,
        registry: PrometheusCollectorRegistry,
        logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        router.get("/healthz") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "ok\n"))
            )
        }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "amc-metrics"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}

/// A swift-metrics factory writing to a Prometheus registry under amc's exported names: a label such as
/// `ingest.batch.duration` becomes `amc_ingest_batch_duration`, with the Prometheus unit suffix of its kind —
/// counters `_total`, timers `_seconds` (histograms of seconds); recorders and gauges keep the bare name
/// (aggregating recorders are histograms). Dimensions become labels unchanged.
///
/// So `Counter(label: "ingest.events")` is exported as `amc_ingest_events_total`.
public struct PrometheusNamingFactory: MetricsFactory {
    private let base: PrometheusMetricsFactory

    /// - Parameter registry: Where the metrics are registered (and rendered from).
    public init(registry: PrometheusCollectorRegistry) {
        var base = PrometheusMetricsFactory(registry: registry)
        base.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
            .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(900),
        ]
        base.defaultValueHistogramBuckets = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]
        self.base = base
    }

    /// The exported name of a swift-metrics label: `amc_` plus the label with every character outside
    /// `[a-zA-Z0-9_]` replaced by `_`, plus `suffix`.
    public static func exportedName(_ label: String, suffix: String = "") -> String {
        let body = String(
            String.UnicodeScalarView(
                label.unicodeScalars.map { scalar in
                    ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                        ? scalar : "_"
                }
            )
        )
        return "amc_" + body + suffix
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        base.makeCounter(label: Self.exportedName(label, suffix: "_total"), dimensions: dimensions)
    }

    public func makeFloatingPointCounter(
        label: String,
        dimensions: [(String, String)]
    ) -> any FloatingPointCounterHandler {
        base.makeFloatingPointCounter(label: Self.exportedName(label, suffix: "_total"), dimensions: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        base.makeRecorder(label: Self.exportedName(label), dimensions: dimensions, aggregate: aggregate)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        base.makeMeter(label: Self.exportedName(label), dimensions: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        base.makeTimer(label: Self.exportedName(label, suffix: "_seconds"), dimensions: dimensions)
    }

    public func destroyCounter(_ handler: any CounterHandler) { base.destroyCounter(handler) }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        base.destroyFloatingPointCounter(handler)
    }

    public func destroyRecorder(_ handler: any RecorderHandler) { base.destroyRecorder(handler) }

    public func destroyMeter(_ handler: any MeterHandler) { base.destroyMeter(handler) }

    public func destroyTimer(_ handler: any TimerHandler) { base.destroyTimer(handler) }
}
