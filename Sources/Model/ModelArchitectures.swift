/// The table of scoring architectures: an architecture id to its ``ScoringModel`` type.
///
/// Adding an architecture is one conforming type in `Model` and one entry in ``all``.
public enum ModelArchitectures {
    /// Every architecture, AMC first.
    public static let all: [any ScoringModel.Type] = [
        AMCModel.self, LateFusionModel.self, CASCModel.self, AMSModel.self, CAANModel.self,
    ]

    /// The ids of every architecture, in ``all`` order.
    public static var ids: [String] { all.map { $0.architecture } }

    /// The architecture with this id.
    /// - Parameter id: An architecture id (e.g. `"late_fusion"`).
    /// - Returns: Its type.
    /// - Throws: ``ModelError`` (`unknown_architecture`) if no architecture has that id.
    public static func architecture(_ id: String) throws -> any ScoringModel.Type {
        guard let type = all.first(where: { $0.architecture == id }) else {
            throw ModelError(.unknownArchitecture, "unknown architecture \(id); known: \(ids.joined(separator: ", "))")
        }
        return type
    }

    /// Builds the scoring model stored in `parameters`, by their architecture id.
    /// - Parameter parameters: Stored parameters.
    /// - Returns: The model.
    /// - Throws: ``ModelError`` if the architecture is unknown or the parameters do not fit it.
    public static func model(from parameters: ModelParameters) throws -> any ScoringModel {
        try architecture(parameters.architecture).init(parameters: parameters)
    }

    /// Fresh parameters of an architecture for training from scratch.
    /// - Parameters:
    ///   - id: The architecture id.
    ///   - seed: The initialisation seed.
    ///   - hyperParameters: Hyper-parameters by name (missing ones take the architecture's defaults; names it does
    ///     not use are ignored).
    /// - Returns: The parameters.
    /// - Throws: ``ModelError`` if the architecture is unknown or a hyper-parameter is out of range.
    public static func initialParameters(
        architecture id: String,
        seed: UInt64,
        hyperParameters: [String: Double]
    ) throws -> ModelParameters {
        try architecture(id).initialParameters(seed: seed, hyperParameters: hyperParameters)
    }
}
