import CommandSupport
import Foundation
import Model

// MARK: - Every architecture

extension BenchLearn {
    /// The architectures measured after AMC's run, in ``ModelArchitectures/all`` order: those of
    /// ``architectures`` other than AMC (whose figures the main run measures with its NumPy reference).
    var otherArchitectures: [String] {
        ModelArchitectures.ids.filter { $0 != AMCModel.architecture && architectures.contains($0) }
    }

    /// One architecture's training throughput.
    struct ArchitectureRow: Sendable, Equatable {
        /// The architecture id.
        var architecture: String
        /// Bootstrap training (every tensor), pairs/s.
        var bootstrapPairsPerSecond: Double
        /// Fine-tuning the online part (``ScoringModel/onlineTensorNames``), pairs/s.
        var finetunePairsPerSecond: Double
        /// The online part's tensor names.
        var onlineTensors: [String]
        /// Mean loss per pair over the first check steps, bootstrap and fine-tune.
        var bootstrapCheckLoss: Float = 0
        var finetuneCheckLoss: Float = 0
        /// What the row is compared with (`NumPy reference above` for AMC).
        var note = ""

        /// `ARCH <id> bootstrap_pairs_per_s=… finetune_pairs_per_s=…`.
        var line: String {
            String(
                format: "ARCH %@ bootstrap_pairs_per_s=%.0f finetune_pairs_per_s=%.0f",
                architecture,
                bootstrapPairsPerSecond,
                finetunePairsPerSecond
            )
        }
    }

    /// Prints the per-architecture table and one `ARCH` line each.
    static func printArchitectures(_ rows: [ArchitectureRow]) {
        func column(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
        }
        print("")
        print("architecture           bootstrap (all tensors)   fine-tune (online part)   online part")
        for row in rows {
            print(
                row.architecture.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + column(rate(row.bootstrapPairsPerSecond) + " pairs/s", 26)
                    + column(rate(row.finetunePairsPerSecond) + " pairs/s", 26)
                    + "   " + row.onlineTensors.joined(separator: " ")
                    + (row.note.isEmpty ? "" : " (\(row.note))")
            )
        }
        for row in rows { print(row.line) }
    }

    /// Measures ``otherArchitectures``: for each, fine-tuning of its online part and bootstrap training from
    /// ``ModelArchitectures/initialParameters(architecture:seed:hyperParameters:)`` on the same examples, through
    /// its own trainer (``ScoringModel/makeTrainer(_:)``), timed as AMC's.
    func measureArchitectures(_ data: SyntheticTrainingSet, learningRate: Float) async throws -> [ArchitectureRow] {
        var rows: [ArchitectureRow] = []
        for architecture in otherArchitectures {
            let (seed, batch, seconds, checkSteps) = (seed, batch, seconds, checkSteps)
            let initial = try ModelArchitectures.model(
                from: try ModelArchitectures.initialParameters(
                    architecture: architecture,
                    seed: seed,
                    hyperParameters: data.configuration.hyperParameters
                )
            )
            var measured: [ParameterScope: (pairsPerSecond: Double, checkLoss: Float)] = [:]
            for scope in [ParameterScope.onlinePart, .all] {
                let settings = TrainerSettings(learningRate: learningRate, scope: scope)
                measured[scope] = try await onBlockingThread {
                    Self.measure(
                        data.examples,
                        initial: initial,
                        settings: settings,
                        batch: batch,
                        seconds: seconds,
                        checkSteps: checkSteps
                    )
                }
            }
            let row = ArchitectureRow(
                architecture: architecture,
                bootstrapPairsPerSecond: measured[.all]!.pairsPerSecond,
                finetunePairsPerSecond: measured[.onlinePart]!.pairsPerSecond,
                onlineTensors: type(of: initial).onlineTensorNames,
                bootstrapCheckLoss: measured[.all]!.checkLoss,
                finetuneCheckLoss: measured[.onlinePart]!.checkLoss
            )
            guard row.bootstrapCheckLoss.isFinite, row.finetuneCheckLoss.isFinite else {
                throw CommandError(
                    "\(architecture): the loss of the first \(checkSteps) steps is not finite (bootstrap \(row.bootstrapCheckLoss), fine-tune \(row.finetuneCheckLoss))"
                )
            }
            print(
                "\(architecture): bootstrap \(Self.rate(row.bootstrapPairsPerSecond)) pairs/s, fine-tune \(Self.rate(row.finetunePairsPerSecond)) pairs/s; "
                    + String(
                        format: "mean loss per pair over the first %d steps: bootstrap %.6f, fine-tune %.6f",
                        checkSteps,
                        row.bootstrapCheckLoss,
                        row.finetuneCheckLoss
                    )
            )
            rows.append(row)
        }
        return rows
    }

    /// The check steps from the initial parameters (their mean loss per pair), then whole epochs (each with a
    /// fresh trainer from the initial parameters, construction untimed) until `seconds` of training have been
    /// timed; returns pairs/s.
    static func measure(
        _ examples: [TrainingExample],
        initial: any ScoringModel,
        settings: TrainerSettings,
        batch: Int,
        seconds: Double,
        checkSteps: Int
    ) -> (pairsPerSecond: Double, checkLoss: Float) {
        var trainer = initial.makeTrainer(settings)
        var loss: Float = 0
        var pairs = 0
        for step in 0..<checkSteps {
            let slice = examples[(step * batch)..<min((step + 1) * batch, examples.count)]
            loss += trainer.step(slice)
            pairs += slice.count
        }
        let checkLoss = loss / Float(max(pairs, 1))

        var trained = 0
        var elapsed = Duration.zero
        repeat {
            var trainer = initial.makeTrainer(settings)
            let started = ContinuousClock.now
            for start in stride(from: 0, to: examples.count, by: batch) {
                _ = trainer.step(examples[start..<min(start + batch, examples.count)])
            }
            elapsed += ContinuousClock.now - started
            trained += examples.count
        } while elapsed.seconds < seconds
        return (Double(trained) / elapsed.seconds, checkLoss)
    }
}
