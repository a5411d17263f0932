import Learning
import Registry

/// The one-line summary `amc learn` prints per cycle.
public enum LearnOutcomeReport {
    /// One line: what the cycle published or why it published nothing.
    public static func line(_ outcome: LearnerOutcome) -> String {
        switch outcome {
        case .published(let version, let activated, let gate):
            return "published version \(version)\(activated ? " (active)" : " (not activated)"): \(gate.reason)"
        case .refused(let gate, _):
            return "gate refused the candidate, nothing published: \(gate.reason)"
        case .noNewPairs(let changed):
            return "nothing to learn: \(changed) training pairs changed since the active version"
        case .onTrial(let version, let experiment, let gate):
            return "published version \(version) (not activated, interleaving experiment \(experiment) judges it): "
                + gate.reason
        case .interleaving(let decision):
            switch decision.outcome {
            case .promoted: return "activated version \(decision.candidate): \(decision.reason)"
            case .rejected: return "rejected version \(decision.candidate): \(decision.reason)"
            case .undecided: return "no new candidate while \(decision.reason)"
            }
        }
    }
}
