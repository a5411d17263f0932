/// Minibatch Adam training of any ``ScoringModel`` over its named tensors: the generic trainer.
///
/// Each ``step(_:)`` runs ``ScoringModel/lossAndGradients(for:scope:)`` for every example, averages the gradients
/// and applies one ``NamedTensorAdam`` step to the tensors in scope, then rebuilds the model from the updated
/// parameters. The mean is formed as ``ModelTrainer`` forms it: the first ⌈B/2⌉ examples and the rest are summed
/// separately, in order, from zero, and the mean is `(first + second) / B` (so over dense gradients both trainers
/// compute the same bits; AMC's online part is such a case). With the `.all` scope each example's gradient includes
/// the architecture's auxiliary losses at ``TrainerSettings/auxiliaryModalityWeight``
/// (``ScoringModel/lossAndGradients(for:scope:auxiliaryWeight:)``); the returned loss never does.
public struct NamedTensorTrainer: ScoringModelTrainer {
    /// The model with every step so far applied.
    public private(set) var scoringModel: any ScoringModel
    /// The optimiser and its state.
    public var optimizer: NamedTensorAdam
    /// Which tensors are trained.
    public let scope: ParameterScope
    /// The auxiliary losses' weight: the settings' at the `.all` scope, 0 for fine-tuning the online part.
    public let auxiliaryWeight: Float

    /// Creates a trainer.
    /// - Parameters:
    ///   - model: The starting model.
    ///   - settings: The learning rate, the scope and the auxiliary weight (used at the `.all` scope only).
    public init(model: any ScoringModel, settings: TrainerSettings) {
        self.scoringModel = model
        self.optimizer = NamedTensorAdam(learningRate: settings.learningRate)
        self.scope = settings.scope
        self.auxiliaryWeight = settings.scope == .all ? settings.auxiliaryModalityWeight : 0
    }

    public mutating func step(_ batch: ArraySlice<TrainingExample>) -> Float {
        guard !batch.isEmpty else { return 0 }
        let (loss, gradient) = meanGradient(batch)
        var parameters = scoringModel.parameters
        let architecture = type(of: scoringModel)
        optimizer.update(&parameters, gradients: gradient)
        do {
            scoringModel = try architecture.init(parameters: parameters)
        } catch {
            // The update keeps every name and shape, so the architecture always accepts its own parameters.
            preconditionFailure("an architecture refused its own updated parameters: \(error)")
        }
        return loss
    }

    /// The mean gradient of a minibatch and its summed loss, without stepping.
    /// - Parameter batch: The minibatch.
    /// - Returns: `Σ L` and the mean gradient of the tensors in scope (auxiliary losses included in the gradient).
    public func meanGradient(_ batch: ArraySlice<TrainingExample>) -> (loss: Float, gradient: ParameterGradients) {
        guard !batch.isEmpty else { return (0, ParameterGradients()) }
        let split = (batch.count + 1) / 2
        func sum(_ examples: ArraySlice<TrainingExample>) -> (loss: Float, gradient: ParameterGradients) {
            var loss: Float = 0
            var total = ParameterGradients()
            for example in examples {
                let result = scoringModel.lossAndGradients(
                    for: example,
                    scope: scope,
                    auxiliaryWeight: auxiliaryWeight
                )
                loss += result.loss
                total.add(result.gradients)
            }
            return (loss, total)
        }
        let (firstLoss, firstSum) = sum(batch.prefix(split))
        let (secondLoss, second) = sum(batch.dropFirst(split))
        var first = firstSum
        first.mean(adding: second, count: Float(batch.count))
        let loss = firstLoss + secondLoss
        return (loss, first)
    }
}
