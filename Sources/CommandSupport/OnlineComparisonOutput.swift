import Evaluation
import Foundation
import Learning
import Registry

/// How `amc model compare` prints a comparison for people.
public enum OnlineComparisonOutput {
    /// The experiments of the candidate, each with its figures, as aligned tables.
    public static func text(_ comparison: OnlineComparison) -> String {
        var lines = [
            "version \(comparison.candidate) against the active version "
                + "\(comparison.activeVersion.map(String.init) ?? "(none)")"
        ]
        if comparison.experiments.isEmpty {
            lines.append("(no shadow or interleaving experiment of version \(comparison.candidate) yet)")
        }
        for entry in comparison.experiments {
            let e = entry.experiment
            let state =
                e.stoppedAt.map {
                    "stopped \(RegistryOutput.format($0)) by \(TerminalText.escaped(e.stoppedBy ?? "?")): "
                        + TerminalText.escaped(e.stopReason ?? "")
                } ?? "running"
            lines.append("")
            lines.append(
                "experiment \(e.id): \(e.kind), share \(number(e.share)), started \(RegistryOutput.format(e.startedAt)) "
                    + "by \(TerminalText.escaped(e.startedBy)); \(state)"
            )
            if let shadow = entry.shadow { lines.append(text(shadow, bucketSeconds: comparison.bucketSeconds)) }
            if let result = entry.interleaving { lines.append(text(result, alpha: comparison.alpha)) }
        }
        return lines.joined(separator: "\n")
    }

    private static func text(_ shadow: OnlineComparison.ShadowAgreement, bucketSeconds: Double) -> String {
        var rows = [["bucket (\(number(bucketSeconds)) s)", "paired rankings", "top-5 overlap", "kendall tau"]]
        for bucket in shadow.buckets {
            rows.append([
                RegistryOutput.format(bucket.start), "\(bucket.pairedRankings)", mean(bucket.top5Overlap),
                mean(bucket.kendallTau),
            ])
        }
        rows.append(["all", "\(shadow.pairedRankings)", mean(shadow.top5Overlap), mean(shadow.kendallTau)])
        return RegistryOutput.align(rows)
    }

    private static func text(_ result: OnlineComparison.InterleavingResult, alpha: Double) -> String {
        let verdict =
            switch result.verdict {
            case .candidateWins: "the candidate wins"
            case .candidateLoses: "the candidate loses"
            case .undecided: "no significant difference"
            }
        let rows = [
            ["rankings", "clicked", "wins", "losses", "ties", "sign test p", "verdict (alpha \(number(alpha)))"],
            [
                "\(result.rankings)", "\(result.clickedRankings)", "\(result.wins)", "\(result.losses)",
                "\(result.ties)", String(format: "%.4g", result.pValue), verdict,
            ],
        ]
        let against = result.servedAgainst.map(String.init).joined(separator: ", ")
        return RegistryOutput.align(rows) + (against.isEmpty ? "" : "\nmerged against version(s) \(against)")
    }

    private static func mean(_ value: Double?) -> String {
        value.map { String(format: "%.3f", $0) } ?? "-"
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
