import Model
import Registry

// MARK: - AMC weights from the registry's parameters

extension ModelRegistry {
    /// A version's full parameters as AMC weights: the learner's one conversion from the registry's
    /// architecture-neutral ``ModelParameters``.
    /// - Throws: ``RegistryError`` when the version (or a parent it needs) does not exist or fails its sha256
    ///   check; `ModelError` when a blob is malformed or the parameters are not AMC's.
    public func weights(of version: Int64) throws -> AMCWeights {
        try AMCWeights(parameters: parameters(of: version))
    }

    /// The single-modality baselines of a version's lineage as AMC weights (see ``baselines(of:)``).
    public func baselineWeights(of version: Int64) throws -> [ModalityMode: AMCWeights] {
        try baselines(of: version).mapValues { try AMCWeights(parameters: $0) }
    }
}
