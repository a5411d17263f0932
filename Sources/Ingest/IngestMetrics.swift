import CoreMetrics
import Kafka
import Metrics

/// The ingest's metrics, created once (swift-metrics; exported by whatever backend the executable bootstraps).
struct IngestMetrics: Sendable {
    /// Valid events committed (`ingest.events`); its rate is events/s.
    let events = Counter(label: "ingest.events")
    /// Messages written to `dead_letters` (`ingest.dead_letters`).
    let deadLetters = Counter(label: "ingest.dead_letters")
    /// Messages skipped because their position was already stored, after an offset moved back
    /// (`ingest.already_stored`).
    let alreadyStored = Counter(label: "ingest.already_stored")
    /// Transactions committed (`ingest.batches`).
    let batches = Counter(label: "ingest.batches")
    /// Wall time from a batch's first poll to its commit (`ingest.batch.duration`).
    let batchDuration = Timer(label: "ingest.batch.duration")
    /// Messages per committed batch (`ingest.batch.size`).
    let batchSize = Recorder(label: "ingest.batch.size")
    /// Retries of transient database failures (`ingest.retries`).
    let retries = Counter(label: "ingest.retries")
    /// Offset ranges recorded as lost (`ingest.gaps`) and the offsets in them (`ingest.lost_offsets`).
    let gaps = Counter(label: "ingest.gaps")
    let lostOffsets = Counter(label: "ingest.lost_offsets")
    /// Consumer errors reported by the Kafka client (`ingest.kafka.errors`).
    let kafkaErrors = Counter(label: "ingest.kafka.errors")
    /// Partitions this process owns (`ingest.assigned_partitions`); 0 while the group has not assigned it any.
    let assignedPartitions = Gauge(label: "ingest.assigned_partitions")
    /// Waits for an assignment that passed ``IngestConfiguration/assignmentWarning`` (`ingest.assignment.warnings`)
    /// and each ``IngestConfiguration/assignmentTimeout`` period (`ingest.assignment.timeouts`).
    let assignmentWarnings = Counter(label: "ingest.assignment.warnings")
    let assignmentTimeouts = Counter(label: "ingest.assignment.timeouts")

    /// The factory in force where the metrics were created (task-local in tests), for metrics made later on
    /// the ingest threads.
    private let factory = MetricsSystem.factory

    /// Messages behind the high watermark, per partition (`ingest.consumer.lag`).
    func lag(_ partition: TopicPartition) -> Gauge {
        Gauge(
            label: "ingest.consumer.lag",
            dimensions: [("topic", partition.topic), ("partition", "\(partition.partition)")],
            factory: factory
        )
    }
}
