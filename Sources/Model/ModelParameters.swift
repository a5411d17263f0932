/// One parameter tensor of a scoring model: a name unique within its architecture, a row-major shape
/// (vectors have one column) and the values.
public struct NamedTensor: Sendable, Equatable {
    /// The tensor's name within its architecture (e.g. `"W_q"`).
    public var name: String
    /// Number of rows.
    public var rows: Int
    /// Number of columns (1 for a vector).
    public var columns: Int
    /// `rows × columns` values, row-major.
    public var values: [Float]

    /// Creates a tensor.
    /// - Parameters:
    ///   - name: The name within the architecture.
    ///   - rows: Number of rows.
    ///   - columns: Number of columns.
    ///   - values: `rows × columns` values, row-major.
    public init(name: String, rows: Int, columns: Int, values: [Float]) {
        precondition(rows >= 0 && columns >= 0 && values.count == rows * columns, "values must be rows × columns")
        self.name = name
        self.rows = rows
        self.columns = columns
        self.values = values
    }
}

/// Everything that defines a trained scoring model, independent of any architecture's kernel layout: the
/// architecture's id, its hyper-parameters and its named tensors in the architecture's fixed order.
///
/// This is what a model version stores (the registry encodes it as a blob) and what an architecture builds a
/// scoring model from.
public struct ModelParameters: Sendable, Equatable {
    /// The architecture's id (e.g. `"amc"`).
    public var architecture: String
    /// The architecture's hyper-parameters by name (dimensions as whole numbers, e.g. `"d": 64`).
    public var hyperParameters: [String: Double]
    /// The tensors, in the architecture's fixed order.
    public var tensors: [NamedTensor]

    /// Creates a parameter set.
    /// - Parameters:
    ///   - architecture: The architecture's id.
    ///   - hyperParameters: Hyper-parameters by name.
    ///   - tensors: The tensors in the architecture's order.
    public init(architecture: String, hyperParameters: [String: Double], tensors: [NamedTensor]) {
        self.architecture = architecture
        self.hyperParameters = hyperParameters
        self.tensors = tensors
    }

    /// The tensor with this name, if any.
    /// - Parameter name: The tensor's name.
    public subscript(name: String) -> NamedTensor? {
        tensors.first { $0.name == name }
    }
}

extension ModelParameters {
    /// These parameters with `part`'s tensors in place of their own (a fine-tune's stored online part applied to
    /// its parent).
    /// - Parameter part: Tensors of the same architecture and hyper-parameters, each named like one of these and of
    ///   its shape.
    /// - Returns: The full parameters.
    /// - Throws: ``ModelError`` (`shape_mismatch`) when the architecture or hyper-parameters differ, or a tensor is
    ///   not one of these or has another shape.
    public func replacingTensors(with part: ModelParameters) throws -> ModelParameters {
        try checkPart(part)
        var full = self
        var index: [String: Int] = [:]
        for (position, tensor) in full.tensors.enumerated() { index[tensor.name] = position }
        for tensor in part.tensors { full.tensors[index[tensor.name]!].values = tensor.values }
        return full
    }

    /// Checks that `part` can replace some of these tensors (see ``replacingTensors(with:)``).
    /// - Throws: ``ModelError`` (`shape_mismatch`) naming what does not fit.
    public func checkPart(_ part: ModelParameters) throws {
        guard architecture == part.architecture else {
            throw ModelError(
                .shapeMismatch,
                "a part of architecture \(part.architecture) cannot apply to \(architecture)"
            )
        }
        guard hyperParameters == part.hyperParameters else {
            throw ModelError(.shapeMismatch, "the part's hyper-parameters differ from its parent's")
        }
        for tensor in part.tensors {
            guard let own = self[tensor.name] else {
                throw ModelError(.shapeMismatch, "the parent has no tensor \(tensor.name)")
            }
            guard own.rows == tensor.rows, own.columns == tensor.columns else {
                throw ModelError(.shapeMismatch, "tensor \(tensor.name) has another shape than the parent's")
            }
        }
    }
}

extension ModelConfiguration {
    /// The settings a parameter set was built with: each from its hyper-parameter (``AMCWeights/HyperParameter``)
    /// when present and valid, else its default (an architecture without attention has no `a` or `h`).
    /// - Parameter hyperParameters: Hyper-parameters by name.
    public init(hyperParameters: [String: Double]) {
        typealias P = AMCWeights.HyperParameter
        self.init()
        func read(_ name: String, _ value: inout Int) {
            if let read = try? HyperParameters.dimension(name, in: hyperParameters, default: value) { value = read }
        }
        read(P.hashBuckets, &hashBuckets)
        read(P.embeddingDimension, &embeddingDimension)
        read(P.attentionDimension, &attentionDimension)
        read(P.modalityDimension, &modalityDimension)
        read(P.regionDimension, &regionDimension)
        if let value = try? HyperParameters.margin(in: hyperParameters, default: margin) { margin = value }
    }

    /// These settings as hyper-parameters by name (``AMCWeights/HyperParameter``: `H`, `d`, `a`, `h`, `D`,
    /// `margin`), the form ``ModelArchitectures/initialParameters(architecture:seed:hyperParameters:)`` reads (each
    /// architecture takes the names it uses).
    public var hyperParameters: [String: Double] {
        typealias P = AMCWeights.HyperParameter
        return [
            P.hashBuckets: Double(hashBuckets), P.embeddingDimension: Double(embeddingDimension),
            P.attentionDimension: Double(attentionDimension), P.modalityDimension: Double(modalityDimension),
            P.regionDimension: Double(regionDimension), P.margin: Double(margin),
        ]
    }
}

extension AMCWeights {
    /// The architecture id of AMC in ``ModelParameters/architecture``.
    public static let architecture = "amc"

    /// The hyper-parameter names of AMC, in ``ModelConfiguration`` order.
    public enum HyperParameter {
        /// `H`, the trigram hash buckets.
        public static let hashBuckets = "H"
        /// `d`, the embedding dimension.
        public static let embeddingDimension = "d"
        /// `a`, the VAN/LAN hidden size.
        public static let attentionDimension = "a"
        /// `h`, the MTN hidden size.
        public static let modalityDimension = "h"
        /// `D`, the region feature dimension.
        public static let regionDimension = "D"
        /// The ranking hinge margin.
        public static let margin = "margin"
    }

    /// These weights as architecture-neutral parameters (the 18 tensors in ``AMCTensor`` order).
    public var parameters: ModelParameters {
        let c = configuration
        return ModelParameters(
            architecture: Self.architecture,
            hyperParameters: c.hyperParameters,
            tensors: AMCTensor.allCases.map { tensor in
                let shape = tensor.shape(c)
                return NamedTensor(
                    name: tensor.rawValue,
                    rows: shape.rows,
                    columns: shape.columns,
                    values: self[tensor]
                )
            }
        )
    }

    /// Rebuilds AMC weights from parameters (the inverse of ``parameters``, bit-exact).
    /// - Parameter parameters: AMC parameters.
    /// - Throws: ``ModelError`` (`shape_mismatch`) if the architecture, a hyper-parameter, a tensor's name or shape
    ///   does not match.
    public init(parameters: ModelParameters) throws {
        guard parameters.architecture == Self.architecture else {
            throw ModelError(.shapeMismatch, "parameters of architecture \(parameters.architecture), not amc")
        }
        typealias P = HyperParameter
        func dimension(_ name: String) throws -> Int {
            guard let value = parameters.hyperParameters[name], value >= 1, value <= Double(1 << 24),
                value == value.rounded()
            else { throw ModelError(.shapeMismatch, "hyper-parameter \(name) is missing or out of range") }
            return Int(value)
        }
        var c = ModelConfiguration()
        c.hashBuckets = try dimension(P.hashBuckets)
        c.embeddingDimension = try dimension(P.embeddingDimension)
        c.attentionDimension = try dimension(P.attentionDimension)
        c.modalityDimension = try dimension(P.modalityDimension)
        c.regionDimension = try dimension(P.regionDimension)
        guard let margin = parameters.hyperParameters[P.margin], margin.isFinite else {
            throw ModelError(.shapeMismatch, "hyper-parameter margin is missing")
        }
        c.margin = Float(margin)
        guard parameters.tensors.count == AMCTensor.allCases.count else {
            throw ModelError(.shapeMismatch, "unexpected tensor count")
        }
        self.init(zerosFor: c)
        for (tensor, stored) in zip(AMCTensor.allCases, parameters.tensors) {
            let shape = tensor.shape(c)
            guard stored.name == tensor.rawValue else {
                throw ModelError(.shapeMismatch, "expected tensor \(tensor.rawValue)")
            }
            guard stored.rows == shape.rows, stored.columns == shape.columns else {
                throw ModelError(.shapeMismatch, "tensor \(tensor.rawValue) has the wrong shape")
            }
            withTensor(tensor) { $0 = stored.values }
        }
    }

    /// The names of AMC's online part: the tensors online fine-tuning may change (the MTN).
    public static let onlineTensorNames: [String] = AMCTensor.allCases.filter(\.isModalityAttention).map(\.rawValue)
}
