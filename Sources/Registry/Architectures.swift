import Model

/// What the registry knows of each architecture: which tensors are its online part (all a fine-tune may change,
/// and all a fine-tune version stores) and how its parameters are checked before an activation.
///
/// Everything comes from the model's table of architectures (``ModelArchitectures``), so an architecture added there
/// is stored, checked and read back here with no change.
public enum Architectures {
    /// The architectures the registry can store.
    public static var known: [String] { ModelArchitectures.ids }

    /// The names of the architecture's online part.
    /// - Parameter architecture: An architecture id.
    /// - Throws: ``RegistryError`` for an unknown architecture.
    public static func onlineTensorNames(of architecture: String) throws -> [String] {
        guard let type = ModelArchitectures.all.first(where: { $0.architecture == architecture }) else {
            throw RegistryError("unknown model architecture \(architecture)")
        }
        return type.onlineTensorNames
    }

    /// Checks that `parameters` form a usable model of their architecture (names, shapes, hyper-parameters).
    /// - Parameter parameters: Complete parameters.
    /// - Throws: ``RegistryError`` for an unknown architecture, `ModelError` when they do not fit it.
    public static func validate(_ parameters: ModelParameters) throws {
        guard ModelArchitectures.ids.contains(parameters.architecture) else {
            throw RegistryError("unknown model architecture \(parameters.architecture)")
        }
        _ = try ModelArchitectures.model(from: parameters)
    }
}
