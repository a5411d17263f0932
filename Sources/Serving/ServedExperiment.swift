import Registry

/// A running online experiment as a worker serves it: the experiment's row and its candidate version, loaded and
/// encoded like a hot swap (``ServedModel``).
public final class ServedExperiment: Sendable {
    /// The experiment (`online_experiments`).
    public let experiment: OnlineExperiment
    /// The candidate version, ready to score.
    public let candidate: ServedModel

    init(experiment: OnlineExperiment, candidate: ServedModel) {
        self.experiment = experiment
        self.candidate = candidate
    }

    /// Whether this request takes part: true for a share ``OnlineExperiment/share`` of draws.
    func includes(using generator: inout some RandomNumberGenerator) -> Bool {
        experiment.share >= 1 || Double.random(in: 0..<1, using: &generator) < experiment.share
    }
}
