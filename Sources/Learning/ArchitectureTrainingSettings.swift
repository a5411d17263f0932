import Model

/// One architecture's own training settings (keys `learn.architectures.<id>.…`): each set value overrides the shared
/// one of ``LearnerConfiguration`` whenever that architecture is trained — bootstrapped when it is
/// ``LearnerConfiguration/architecture``, fine-tuned when the active version is one of it.
///
/// Unset values (nil, or a hyper-parameter not named) keep the shared settings. See `Docs/configuration.md`.
public struct ArchitectureTrainingSettings: Sendable, Hashable {
    /// Bootstrap epochs. Key: `learn.architectures.<id>.bootstrap.epochs`.
    public var bootstrapEpochs: Int?
    /// Bootstrap Adam step size. Key: `learn.architectures.<id>.bootstrap.learning-rate`.
    public var bootstrapLearningRate: Float?
    /// Weight of the auxiliary single-modality losses at bootstrap (architectures that have them).
    /// Key: `learn.architectures.<id>.bootstrap.auxiliary-weight`.
    public var auxiliaryModalityWeight: Float?
    /// Fine-tuning epochs. Key: `learn.architectures.<id>.finetune.epochs`.
    public var fineTuneEpochs: Int?
    /// Fine-tuning Adam step size. Key: `learn.architectures.<id>.finetune.learning-rate`.
    public var fineTuneLearningRate: Float?
    /// Hyper-parameters by the architecture's own names (as its versions store them, e.g. AMC's `d`, `a`, `h`,
    /// `margin`), over the shared model settings, for a bootstrap. Key: `learn.architectures.<id>.hyper-parameters`.
    public var hyperParameters: [String: Double] = [:]

    /// No overrides.
    public init() {}
}

extension LearnerConfiguration {
    /// These settings with `architecture`'s own settings (``architectures``) applied over the shared ones.
    /// - Parameter architecture: An architecture id.
    /// - Returns: The settings a run training that architecture uses.
    public func applying(architecture: String) -> LearnerConfiguration {
        guard let own = architectures[architecture] else { return self }
        var settings = self
        if let value = own.bootstrapEpochs { settings.bootstrapEpochs = value }
        if let value = own.bootstrapLearningRate { settings.bootstrapLearningRate = value }
        if let value = own.auxiliaryModalityWeight { settings.auxiliaryModalityWeight = value }
        if let value = own.fineTuneEpochs { settings.fineTuneEpochs = value }
        if let value = own.fineTuneLearningRate { settings.fineTuneLearningRate = value }
        return settings
    }

    /// The hyper-parameters a bootstrap of `architecture` starts from: the shared model settings, then the
    /// architecture's own (``ArchitectureTrainingSettings/hyperParameters``); the trigram buckets `H` stay the shared
    /// ones (every method of a run reads the same hashed features) and the region dimension `D` is the catalog's.
    /// - Parameters:
    ///   - architecture: An architecture id.
    ///   - regionDimension: The catalog's region dimension.
    /// - Returns: Hyper-parameters by name.
    public func hyperParameters(of architecture: String, regionDimension: Int) -> [String: Double] {
        var values = model.hyperParameters
        values.merge(architectures[architecture]?.hyperParameters ?? [:]) { $1 }
        values[AMCWeights.HyperParameter.hashBuckets] = Double(model.hashBuckets)
        values[AMCWeights.HyperParameter.regionDimension] = Double(regionDimension)
        return values
    }
}
