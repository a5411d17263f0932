import AMCBench
import Foundation
import TestSupport
import Testing

/// `amc bench learn` and `amc bench score` report every architecture of the model's table, each on its own `ARCH`
/// line before the final `RESULT` line (the real binary, the real NumPy references).
@Suite(.timeLimit(.minutes(10)))
struct BenchArchitecturesCommandTests {
    /// Every architecture id, in table order (the benchmarks' default selection).
    let architectures = BenchLearn().architectures

    @Test func benchLearnPrintsOneArchLinePerArchitectureBeforeItsSummaryLines() async throws {
        #expect(architectures.first == "amc" && architectures.contains("late_fusion"))
        let result = try await amcWithDeadline(
            [
                "bench", "learn", "--examples", "64", "--images", "20", "--regions", "4", "--keywords", "6",
                "--seconds", "0.1", "--check-steps", "2",
            ],
            deadline: .seconds(300)
        )
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let arch = lines.filter { $0.hasPrefix("ARCH ") }
        #expect(arch.map { $0.split(separator: " ")[1] } == architectures.map { Substring($0) }, "\(result.stdout)")
        for line in arch {
            #expect(
                line.wholeMatch(of: /ARCH [a-z_]+ bootstrap_pairs_per_s=[1-9][0-9]* finetune_pairs_per_s=[1-9][0-9]*/)
                    != nil,
                "\(line)"
            )
        }
        #expect(lines.suffix(2).first?.hasPrefix("BOOTSTRAP bootstrap_pairs_per_s=") == true, "\(result.stdout)")
        #expect(lines.last?.hasPrefix("RESULT finetune_pairs_per_s=") == true, "\(result.stdout)")
        let lastArch = try #require(lines.lastIndex { $0.hasPrefix("ARCH ") })
        #expect(lastArch == lines.count - 3)
    }

    @Test func benchScorePrintsOneArchLinePerArchitectureCrossCheckedWithItsNumPyReference() async throws {
        let result = try await amcWithDeadline(
            [
                "bench", "score", "--images", "200", "--regions", "4", "--keywords", "6", "--candidates", "20",
                "--queries", "100", "--seconds", "0.5", "--rounds", "1", "--warmup", "0", "--swaps", "2",
                "--rollbacks", "0", "--skip-onnx-reference", "--log-level", "error",
            ],
            deadline: .seconds(400)
        )
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let arch = lines.filter { $0.hasPrefix("ARCH ") }
        #expect(arch.map { $0.split(separator: " ")[1] } == architectures.map { Substring($0) }, "\(result.stdout)")
        for line in arch {
            #expect(
                line.wholeMatch(
                    of: /ARCH [a-z_]+ p50_ms=[0-9]+\.[0-9]{3} p99_ms=[0-9]+\.[0-9]{3} numpy_p99_ms=[0-9]+\.[0-9]{3}/
                )
                    != nil,
                "\(line)"
            )
        }
        // Each other architecture was cross-checked against its NumPy reference.
        for architecture in architectures.dropFirst() {
            #expect(
                lines.contains {
                    $0.hasPrefix("\(architecture) in-process: 100 queries × 20 candidates")
                        && $0.contains("scores agree within")
                },
                "\(result.stdout)"
            )
        }
        #expect(
            lines.last?.wholeMatch(
                of:
                    /RESULT score_p99_ms=[0-9.]+ http_p99_ms=[0-9.]+ swap_failed=0 swap_p99_ratio=[0-9.]+ ort_p99_ms=nan/
            ) != nil,
            "\(result.stdout)"
        )
        #expect(lines.dropLast().last?.hasPrefix("ARCH ") == true)
    }

    @Test func benchScoreNamesAMissingReferenceModuleBeforeItStarts() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("amc-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("reference_models"),
            withIntermediateDirectories: true
        )
        defer { try? FileManager.default.removeItem(at: folder) }
        let runner = folder.appendingPathComponent("reference_score_model.py")
        try FileManager.default.copyItem(
            at: repositoryRoot.appendingPathComponent("Benchmarks/reference_score_model.py"),
            to: runner
        )
        let result = try await amcWithDeadline(
            [
                "bench", "score", "--skip-onnx-reference", "--model-reference", runner.path, "--architectures",
                "late_fusion",
            ],
            deadline: .seconds(120)
        )
        #expect(result.status != 0)
        let last = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("Error: architecture late_fusion has no NumPy reference"), "\(result.stderr)")
        #expect(last.contains(folder.path + "/reference_models/late_fusion.py is missing"), "\(result.stderr)")
        // Refused up front: nothing was measured.
        #expect(!result.stdout.contains("in-process"), "\(result.stdout)")
    }
}
