import CoreMetrics
import Evaluation
import Foundation
import Metrics
import Registry

/// The learner's metrics (swift-metrics; `amc learn --metrics-port` exports them as `amc_learn_…`).
struct LearnerMetrics: Sendable {
    /// Cycles that trained, by outcome `published`, `refused` or `interleaving` (published for an interleaving
    /// experiment) (`learn.cycles`).
    func cycle(_ outcome: String) -> Counter {
        Counter(label: "learn.cycles", dimensions: [("outcome", outcome)])
    }
    /// Mean hinge loss of the last epoch of the latest cycle (`learn.training.loss`).
    let trainingLoss = Gauge(label: "learn.training.loss")
    /// Held-out NDCG@5 the latest gate measured, for `model` `candidate` and `active` (`learn.gate.ndcg5`).
    func gateNDCG5(_ model: String) -> Gauge {
        Gauge(label: "learn.gate.ndcg5", dimensions: [("model", model)])
    }
    /// Held-out queries the latest gate compared the candidate and the active version on (`learn.gate.queries`).
    let gateQueries = Gauge(label: "learn.gate.queries")
    /// The version this learner last activated (`learn.active.version`).
    let activeVersion = Gauge(label: "learn.active.version")
    /// 1 while this process holds the learner leadership, else 0 (`learn.leader`).
    let leader = Gauge(label: "learn.leader")
    /// Wall time of a cycle, from reading the data to publishing or refusing (`learn.cycle.duration`).
    let cycleDuration = Timer(label: "learn.cycle.duration")

    /// Interleaving experiments the learner started, promoted and rejected, by `outcome` `started`, `promoted` or
    /// `rejected` (`learn.interleaving.experiments`).
    func interleavingExperiments(_ outcome: String) -> Counter {
        Counter(label: "learn.interleaving.experiments", dimensions: [("outcome", outcome)])
    }
    /// Credited impressions of the experiment judged last, by `credit` `win`, `loss` or `tie` for the candidate
    /// (`learn.interleaving.impressions`).
    func interleavingImpressions(_ credit: ImpressionCredit) -> Gauge {
        Gauge(label: "learn.interleaving.impressions", dimensions: [("credit", credit.rawValue)])
    }
    /// The sign test's p-value of the experiment judged last, and the threshold of its look
    /// (`learn.interleaving.p_value`, `learn.interleaving.threshold`).
    let interleavingPValue = Gauge(label: "learn.interleaving.p_value")
    let interleavingThreshold = Gauge(label: "learn.interleaving.threshold")
    /// The candidate version of the running experiment the learner judges, 0 when none
    /// (`learn.interleaving.candidate`).
    let interleavingCandidate = Gauge(label: "learn.interleaving.candidate")

    /// Records a judgement of an interleaving experiment.
    func record(_ decision: InterleavingDecision) {
        let judgement = decision.judgement
        interleavingImpressions(.candidateWins).record(judgement.tally.wins)
        interleavingImpressions(.candidateLoses).record(judgement.tally.losses)
        interleavingImpressions(.tie).record(judgement.tally.ties)
        interleavingPValue.record(judgement.pValue)
        interleavingThreshold.record(judgement.threshold)
        switch decision.outcome {
        case .undecided:
            interleavingCandidate.record(decision.candidate)
        case .promoted, .rejected:
            interleavingExperiments(decision.outcome.rawValue).increment()
            interleavingCandidate.record(0)
        }
    }

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
        case .onTrial(let version, _, let report):
            cycle("interleaving").increment()
            interleavingExperiments("started").increment()
            interleavingCandidate.record(version)
            gate = report
        case .noNewPairs, .interleaving:
            return
        }
        trainingLoss.record(training.lastEpochLoss)
        if let candidate = gate.candidate { gateNDCG5("candidate").record(candidate.ndcg5) }
        if let parent = gate.parent { gateNDCG5("active").record(parent.ndcg5) }
        if let candidate = gate.candidate { gateQueries.record(candidate.queries) }
        cycleDuration.recordSeconds(Date().timeIntervalSince(started))
    }
}
