import CommandSupport
import Foundation
import Registry

/// Online experiments as `amc model show` prints them.
extension RegistryOutput {
    /// One experiment of a version (`online_experiments`).
    struct ExperimentRecord: Encodable {
        var id: Int64
        var kind: String
        var share: Double
        var startedAt: Date
        var startedBy: String
        var reason: String
        var stoppedAt: Date?
        var stoppedBy: String?
        var stopReason: String?

        init(_ experiment: OnlineExperiment) {
            id = experiment.id
            kind = experiment.kind.rawValue
            share = experiment.share
            startedAt = experiment.startedAt
            startedBy = experiment.startedBy
            reason = experiment.reason
            stoppedAt = experiment.stoppedAt
            stoppedBy = experiment.stoppedBy
            stopReason = experiment.stopReason
        }

        private enum CodingKeys: String, CodingKey {
            case id, kind, share, startedAt, startedBy, reason, stoppedAt, stoppedBy, stopReason
        }

        /// The stop fields are always present (`null` while it runs).
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(kind, forKey: .kind)
            try c.encode(share, forKey: .share)
            try c.encode(startedAt, forKey: .startedAt)
            try c.encode(startedBy, forKey: .startedBy)
            try c.encode(reason, forKey: .reason)
            try c.encode(stoppedAt, forKey: .stoppedAt)
            try c.encode(stoppedBy, forKey: .stoppedBy)
            try c.encode(stopReason, forKey: .stopReason)
        }
    }

    /// The text line of one experiment.
    static func text(_ e: ExperimentRecord) -> String {
        "  experiment       \(e.kind) \(e.id) on \(e.share) of requests, started \(format(e.startedAt)) by "
            + "\(TerminalText.escaped(e.startedBy)): \(TerminalText.escaped(e.reason)); "
            + (e.stoppedAt.map {
                "stopped \(format($0)) by \(TerminalText.escaped(e.stoppedBy ?? "")): "
                    + TerminalText.escaped(e.stopReason ?? "")
            } ?? "running")
    }
}
