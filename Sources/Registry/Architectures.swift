import Model

/// What the registry knows of each architecture: which tensors are its online part (all a fine-tune may change,
/// and all a fine-tune version stores) and how its parameters are checked before an activation.
///
/// The one place to extend when an architecture is added.
public enum Architectures {
    /// The architectures the registry can store.
    public static let known: [String] = [AMCWeights.architecture]

    /// The names of the architecture's online part.
    /// - Parameter architecture: An architecture id.
    /// - Throws: ``RegistryError`` for an unknown architecture.
    public static func onlineTensorNames(of architecture: String) throws -> [String] {
        switch architecture {
        case AMCWeights.architecture: return AMCWeights.onlineTensorNames
        default: throw RegistryError("unknown model architecture \(architecture)")
        }
    }

    /// Checks that `parameters` form a usable model of their architecture (names, shapes, hyper-parameters).
    /// - Parameter parameters: Complete parameters.
    /// - Throws: ``RegistryError`` for an unknown architecture, `ModelError` when they do not fit it.
    public static func validate(_ parameters: ModelParameters) throws {
        switch parameters.architecture {
        case AMCWeights.architecture: _ = try AMCWeights(parameters: parameters)
        default: throw RegistryError("unknown model architecture \(parameters.architecture)")
        }
    }
}
