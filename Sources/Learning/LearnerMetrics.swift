import CoreMetrics
import Evaluation
import Foundation
import Metrics
import Registry

/// The learner's metrics (swift-metrics; `amc learn --metrics-port` exports them as `amc_learn_…`).
struct LearnerMetrics: Sendable {
    /// Cycles that trained, by outcome `published` or `refused` (`learn.cycles`).
    func cycle(_ outcome: String) -> Counter {
        Counter(label: "learn.cycles", dimensions: [("outcome", outcome)])
    }
    /// Mean hinge loss of the last epoch of the latest cycle (`learn.training.loss`).
    let trainingLoss = Gauge(label: "learn.training.loss")
    /// Held-out NDCG@5 the latest gate measured, for `model` `candidate` and `active` (`learn.gate.ndcg5`).
    func gateNDCG5(_ model: String) -> Gauge {
        Gauge(label: "learn.gate.ndcg5", dimensions: [("model", model)])
    }
    /// The version this learner last activated (`learn.active.version`).
    let activeVersion = Gauge(label: "learn.active.version")
    /// 1 while this process holds the learner leadership, else 0 (`learn.leader`).
    let leader = Gauge(label: "learn.leader")
    /// Wall time of a cycle, from reading the data to publishing or refusing (`learn.cycle.duration`).
    let cycleDuration = Timer(label: "learn.cycle.duration")

    /// Records a cycle that trained.
    func record(outcome: LearnerOutcome, training: TrainingReport, started: Date) {
        let gate: GateReport
        switch outcome {
        case .published(let version, let activated, let report):
            cycle("published").increment()
            if activated { activeVersion.record(version) }
            gate = report
        case .refused(let report, _):
            cycle("refused").increment()
            gate = report
        case .noNewPairs:
            return
        }
        trainingLoss.record(training.lastEpochLoss)
        if let candidate = gate.candidate { gateNDCG5("candidate").record(candidate.ndcg5) }
        if let parent = gate.parent { gateNDCG5("active").record(parent.ndcg5) }
        cycleDuration.recordSeconds(Date().timeIntervalSince(started))
    }
}
