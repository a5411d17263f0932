import CommandSupport
import Foundation
import Testing

@testable import AMCBench

/// Driving the ONNX Runtime reference round by round: it times a round only when told to, in order, and a reference
/// that fails between rounds stops the benchmark with its reason. The reference here is a stand-in script that
/// follows the same protocol (`READY`, then `GO` → `ROUND <r>`), so that no ONNX Runtime is needed.
@Suite(.timeLimit(.minutes(2)))
struct OnnxRuntimeRoundsTests {
    /// A stand-in for `reference_score_onnx.py --rounds N`: it logs each round it runs to `rounds.log` in the folder
    /// and, after the last, writes two scores and prints the figures. With a file `fail_after` in the folder it exits
    /// with an error after the number of rounds the file holds.
    static let standIn = """
        import argparse, os, struct, sys
        parser = argparse.ArgumentParser()
        parser.add_argument("directory")
        parser.add_argument("--rounds", type=int)
        parser.add_argument("--round-warmup", type=int)
        args = parser.parse_args()
        log = os.path.join(args.directory, "rounds.log")
        print("VERSIONS stand-in=1")
        print("READY", flush=True)
        for r in range(1, args.rounds + 1):
            if sys.stdin.readline().strip() != "GO":
                sys.exit("expected GO")
            fail_after = os.path.join(args.directory, "fail_after")
            if os.path.exists(fail_after) and r > int(open(fail_after).read()):
                sys.exit(f"boom in round {r}")
            with open(log, "a") as f:
                f.write(f"{r} warmup={args.round_warmup}\\n")
            print(f"ROUND {r}", flush=True)
        with open(os.path.join(args.directory, "onnx_scores.f32"), "wb") as f:
            f.write(struct.pack("<2f", 0.25, -0.5))
        print("REFERENCE queries=2 p50_ms=0.5000 p99_ms=0.7500 max_ms=0.9000")
        """

    @Test func eachRoundIsTimedOnlyWhenToldAndTheFiguresFollowTheLast() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let rounds = try OnnxRuntimeReference.Rounds(
            folder.appendingPathComponent("stand_in.py").path,
            python: "python3",
            directory: folder,
            rounds: 3
        )
        #expect(Self.loggedRounds(folder).isEmpty, "ready, nothing timed before the first round")
        for round in 1...3 {
            try rounds.time(round: round)
            #expect(
                Self.loggedRounds(folder) == (1...round).map { "\($0) warmup=20" },
                "round \(round) ran, and no further"
            )
        }
        let result = try rounds.finish()
        #expect(result.latency.p50 == 0.5 && result.latency.p99 == 0.75 && result.latency.max == 0.9)
        #expect(result.latency.count == 2 && result.versions == "stand-in=1")
        #expect(result.scores == [0.25, -0.5])
    }

    @Test func aReferenceThatFailsBetweenRoundsStopsTheRunWithItsReason() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try "1".write(to: folder.appendingPathComponent("fail_after"), atomically: true, encoding: .utf8)
        let rounds = try OnnxRuntimeReference.Rounds(
            folder.appendingPathComponent("stand_in.py").path,
            python: "python3",
            directory: folder,
            rounds: 3
        )
        try rounds.time(round: 1)
        let error = #expect(throws: CommandError.self) { try rounds.time(round: 2) }
        #expect(error?.description.contains("boom in round 2") == true, "\(String(describing: error))")
    }

    /// A fresh folder holding the stand-in script.
    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "amc-onnx-rounds-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try standIn.write(to: folder.appendingPathComponent("stand_in.py"), atomically: true, encoding: .utf8)
        return folder
    }

    /// The rounds the stand-in logged, in order.
    static func loggedRounds(_ folder: URL) -> [String] {
        let text = (try? String(contentsOf: folder.appendingPathComponent("rounds.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }
}
