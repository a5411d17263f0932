import Foundation
import TestSupport
import Testing

/// `amc eval --all-architectures` through the `amc` binary: the active version, the latest version of every other
/// architecture and the baselines, one row each, with every column.
@Suite(.timeLimit(.minutes(10)))
struct EvalCommandTests {
    @Test func allArchitecturesComparesTheLatestVersionOfEachArchitectureWithEveryColumn() async throws {
        let url = try TestPostgres.freshDatabase()
        let world = FileManager.default.temporaryDirectory.appendingPathComponent("amc-world-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: world) }
        let simulated = try await amc([
            "simulate", "--out", world.path, "--images", "300", "--concepts", "6", "--queries", "60",
            "--held-out", "12",
        ])
        #expect(simulated.status == 0, "\(simulated.stderr)")
        // Late fusion's own bootstrap budget (learn.architectures) over the shared one.
        let config = world.appendingPathComponent("amc.json")
        try
            #"{"learn": {"model": {"embedding-dimension": 8, "attention-dimension": 4, "modality-dimension": 4, "hash-buckets": 512}, "bootstrap": {"epochs": 1}, "gate": {"tolerance": 1}, "architectures": {"late_fusion": {"bootstrap": {"epochs": 2}}}}}"#
            .write(to: config, atomically: true, encoding: .utf8)
        let common = ["--database-url", url, "--config", config.path]
        let imported = try await amc(
            ["catalog", "import"] + common + [world.appendingPathComponent("catalog.jsonl").path]
        )
        #expect(imported.status == 0, "\(imported.stderr)")
        _ = try loadClicks(url, from: world.appendingPathComponent("clicks.tsv"))

        let amcVersion = try await amc(["learn", "--bootstrap"] + common)
        #expect(amcVersion.status == 0, "\(amcVersion.stderr)")
        let lateFusion = try await amc(
            ["learn", "--bootstrap", "--architecture", "late_fusion", "--no-activate", "--no-baselines"] + common
        )
        #expect(lateFusion.status == 0, "\(lateFusion.stderr)")
        #expect(lateFusion.stdout.hasPrefix("published version 2 (not activated)"), "\(lateFusion.stdout)")
        for (version, epochs) in [(1, 1), (2, 2)] {
            let shown = try await amc(["model", "show", "\(version)", "--json"] + common)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
            let hyperparameters = try #require(body["hyperparameters"] as? [String: Any])
            #expect(hyperparameters["epochs"] as? Int == epochs, "version \(version): \(hyperparameters)")
        }

        let labels = world.appendingPathComponent("dev-labels.tsv").path
        let evaluated = try await amc(["eval", "--labels", labels, "--all-architectures", "--json"] + common)
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(evaluated.stdout.utf8)) as? [String: Any]
        )
        #expect(report["version"] as? Int == 1)
        let rows = try #require(report["rows"] as? [[String: Any]])
        #expect(
            rows.compactMap { $0["method"] as? String } == [
                "amc", "late_fusion", "click_prior", "keyword_only", "image_only", "late_fusion_fixed",
            ]
        )
        for (row, version) in zip(rows.prefix(2), [1, 2]) {
            #expect(row["version"] as? Int == version)
            let metrics = try #require(row["metrics"] as? [String: Any])
            for key in [
                "ndcg5", "ndcg10", "ndcg15", "ndcg20", "ndcg25", "precision5", "mean_average_precision",
                "mean_reciprocal_rank", "auc",
            ] {
                let value = try #require(metrics[key] as? Double, "\(key)")
                #expect((0...1).contains(value), "\(key) = \(value)")
            }
            #expect(metrics["queries"] as? Int == 12)
            let cost = try #require(row["scoring_microseconds_per_candidate"] as? Double)
            #expect(cost > 0 && cost.isFinite)
            let speed = try #require(row["bootstrap_pairs_per_second"] as? Double)
            #expect(speed > 0 && speed.isFinite)
            // No fine-tune in either lineage yet: the column is there, null.
            #expect(row.keys.contains("fine_tune_pairs_per_second") && row["fine_tune_pairs_per_second"] is NSNull)
        }
        for baseline in rows.dropFirst(2) { #expect(baseline["version"] == nil, "\(baseline)") }

        let table = try await amc(["eval", "--labels", labels, "--all-architectures"] + common)
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 8, "\(table.stdout)")
        #expect(lines.first?.hasPrefix("model version 1 (active) and the latest version of every other") == true)
        #expect(lines.dropFirst().first?.contains("µs/cand") == true, "\(table.stdout)")
        #expect(lines.contains { $0.hasPrefix("AMC (attention)") && $0.contains(" v1 ") }, "\(table.stdout)")
        #expect(lines.contains { $0.hasPrefix("late fusion (learned gate)") && $0.contains(" v2 ") })

        // Plain `amc eval` is unchanged: the active version's rows, without the comparison's columns.
        let plain = try await amc(["eval", "--labels", labels, "--json"] + common)
        let plainReport = try #require(
            try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any]
        )
        let plainRows = try #require(plainReport["rows"] as? [[String: Any]])
        #expect(plainRows.map { $0.keys.sorted() }.allSatisfy { $0 == ["method", "metrics"] })
        #expect(plainRows.first?["method"] as? String == "amc")

        let both = try await amc(["eval", "--labels", labels, "--all-architectures", "--version", "1"] + common)
        #expect(both.status != 0 && both.stderr.contains("--all-architectures"), "\(both.stderr)")
    }
}
