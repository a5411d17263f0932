import CommandSupport
import Learning
import Model

extension Settings {
    /// The prefix of every per-architecture environment variable (`AMC_LEARN_ARCHITECTURES_AMC_BOOTSTRAP_EPOCHS`).
    private static let architectureVariablePrefix = "AMC_LEARN_ARCHITECTURES_"

    /// The settings an architecture may set under `learn.architectures.<id>` (besides `hyper-parameters`), each with
    /// the shared key it overrides.
    private static let architectureSettings: [(section: String, name: String, shared: String)] = [
        ("bootstrap", "epochs", "learn.bootstrap.epochs"),
        ("bootstrap", "learning-rate", "learn.bootstrap.learning-rate"),
        ("bootstrap", "auxiliary-weight", "learn.bootstrap.auxiliary-weight"),
        ("finetune", "epochs", "learn.finetune.epochs"),
        ("finetune", "learning-rate", "learn.finetune.learning-rate"),
    ]

    /// The shared key of each hyper-parameter that has one (``AMCWeights/HyperParameter`` names).
    private static let sharedHyperParameterKeys = [
        AMCWeights.HyperParameter.embeddingDimension: "learn.model.embedding-dimension",
        AMCWeights.HyperParameter.attentionDimension: "learn.model.attention-dimension",
        AMCWeights.HyperParameter.modalityDimension: "learn.model.modality-dimension",
        AMCWeights.HyperParameter.margin: "learn.model.margin",
    ]

    /// Each architecture's own training settings (keys `learn.architectures.<id>.…`), checked: every id must be an
    /// architecture of ``ModelArchitectures``, every setting one the learner knows, every hyper-parameter one the
    /// architecture has (`H` and `D` are shared by all), and the resulting hyper-parameters must build it.
    ///
    /// An architecture's value overrides the shared one set in the same layer or a lower one (flag > environment >
    /// file): `--bootstrap-epochs 3` wins over a per-architecture value in the config file.
    /// - Parameter shared: The shared learner settings the architectures' own ones override.
    /// - Returns: The settings of each architecture that sets any, by id.
    /// - Throws: ``CommandError`` or ``ConfigValueError`` naming the offending key.
    func architectureTrainingSettings(
        over shared: LearnerConfiguration
    ) throws -> [String: ArchitectureTrainingSettings] {
        let ids = ModelArchitectures.ids
        var hyperParameterNames: [String: [String]] = [:]
        for id in ids {
            // The names an architecture's parameters carry; one the shared settings do not fit names none here (its
            // bootstrap says why).
            let defaults = try? ModelArchitectures.initialParameters(
                architecture: id,
                seed: 1,
                hyperParameters: shared.model.hyperParameters
            )
            hyperParameterNames[id] =
                (defaults?.hyperParameters.keys).map { names in
                    names.filter {
                        $0 != AMCWeights.HyperParameter.hashBuckets && $0 != AMCWeights.HyperParameter.regionDimension
                    }.sorted()
                } ?? []
        }
        try checkArchitectureFile(ids: ids, hyperParameterNames: hyperParameterNames)
        try checkArchitectureEnvironment(ids: ids, hyperParameterNames: hyperParameterNames)

        let count = ConfigBounds<Int>.within(1...1_000_000)
        let rate = ConfigBounds<Double>(requirement: "positive") { $0 > 0 }
        let weight = ConfigBounds<Double>.within(0...1_000)
        let finite = ConfigBounds<Double>(requirement: "a finite number") { $0.isFinite }
        /// Whether the architecture's `key` is set at least as high as the shared key it overrides.
        func applies(_ key: String, over sharedKey: String?) -> Bool {
            let rank = reader.layerRank(ofKey: key)
            return rank > 0 && rank >= sharedKey.map { reader.layerRank(ofKey: $0) } ?? 0
        }
        var result: [String: ArchitectureTrainingSettings] = [:]
        for id in ids {
            let base = "learn.architectures.\(id)"
            /// The value of `section.name` when it applies over its shared key.
            func value<Value>(_ section: String, _ name: String, _ read: (String) throws -> Value?) rethrows -> Value? {
                let key = "\(base).\(section).\(name)"
                let shared = Self.architectureSettings.first { $0.section == section && $0.name == name }?.shared
                guard let value = try read(key), applies(key, over: shared) else { return nil }
                return value
            }
            var own = ArchitectureTrainingSettings()
            own.bootstrapEpochs = try value("bootstrap", "epochs") { try reader.int(forKey: $0, bounds: count) }
            own.bootstrapLearningRate = try value("bootstrap", "learning-rate") {
                try reader.double(forKey: $0, bounds: rate).map(Float.init)
            }
            own.auxiliaryModalityWeight = try value("bootstrap", "auxiliary-weight") {
                try reader.double(forKey: $0, bounds: weight).map(Float.init)
            }
            own.fineTuneEpochs = try value("finetune", "epochs") { try reader.int(forKey: $0, bounds: count) }
            own.fineTuneLearningRate = try value("finetune", "learning-rate") {
                try reader.double(forKey: $0, bounds: rate).map(Float.init)
            }
            for name in hyperParameterNames[id] ?? [] {
                let key = "\(base).hyper-parameters.\(name)"
                if let value = try reader.double(forKey: key, bounds: finite),
                    applies(key, over: Self.sharedHyperParameterKeys[name])
                {
                    own.hyperParameters[name] = value
                }
            }
            if own != ArchitectureTrainingSettings() { result[id] = own }
        }
        for (id, own) in result.sorted(by: { $0.key < $1.key }) where !own.hyperParameters.isEmpty {
            var configuration = shared
            configuration.architectures = [id: own]
            do {
                _ = try ModelArchitectures.initialParameters(
                    architecture: id,
                    seed: 1,
                    hyperParameters: configuration.hyperParameters(
                        of: id,
                        regionDimension: shared.model.regionDimension
                    )
                )
            } catch {
                throw CommandError("learn.architectures.\(id).hyper-parameters do not fit \(id): \(error)")
            }
        }
        return result
    }

    /// Checks the config file's `learn.architectures` object: known ids, known sections, settings and
    /// hyper-parameters.
    private func checkArchitectureFile(ids: [String], hyperParameterNames: [String: [String]]) throws {
        guard let file = reader.file, let value = file.value(forKey: "learn.architectures") else { return }
        let layer = ConfigLayer.file(path: file.path)
        func object(_ value: JSONConfigValue, at key: String, of what: String) throws -> [String: JSONConfigValue] {
            guard case .object(let members) = value else {
                throw ConfigValueError(key: key, layer: layer, requirement: what, found: value.shown)
            }
            return members
        }
        let architectures = try object(value, at: "learn.architectures", of: "an object by architecture id")
        for (id, settings) in architectures.sorted(by: { $0.key < $1.key }) {
            let base = "learn.architectures.\(id)"
            guard ids.contains(id) else {
                throw CommandError(
                    "\(base) (\(layer)): unknown architecture \(id); known: \(ids.joined(separator: ", "))"
                )
            }
            for (section, content) in try object(settings, at: base, of: "an object").sorted(by: { $0.key < $1.key }) {
                let key = "\(base).\(section)"
                let members = try object(content, at: key, of: "an object")
                let known =
                    section == "hyper-parameters"
                    ? hyperParameterNames[id] ?? []
                    : Self.architectureSettings.filter { $0.section == section }.map(\.name)
                guard !known.isEmpty else {
                    throw CommandError(
                        "\(key) (\(layer)): unknown setting \(section); an architecture sets bootstrap, finetune "
                            + "and hyper-parameters"
                    )
                }
                for name in members.keys.sorted() where !known.contains(name) {
                    let shared =
                        name == AMCWeights.HyperParameter.hashBuckets
                            || name == AMCWeights.HyperParameter.regionDimension
                        ? " (H and D are shared by every architecture: learn.model.hash-buckets, the catalog)" : ""
                    throw CommandError(
                        "\(key).\(name) (\(layer)): unknown setting \(name)\(shared); \(id)'s \(section): "
                            + known.joined(separator: ", ")
                    )
                }
            }
        }
    }

    /// Refuses an `AMC_LEARN_ARCHITECTURES_…` variable that names no setting of a known architecture (an unknown id,
    /// a misspelt setting), which would otherwise be ignored.
    private func checkArchitectureEnvironment(ids: [String], hyperParameterNames: [String: [String]]) throws {
        var keys: [String] = []
        for id in ids {
            keys += Self.architectureSettings.map { "learn.architectures.\(id).\($0.section).\($0.name)" }
            keys += (hyperParameterNames[id] ?? []).map { "learn.architectures.\(id).hyper-parameters.\($0)" }
        }
        let known = Set(keys.map(ConfigValues.environmentVariable(for:)))
        for variable in environment.keys.sorted()
        where variable.hasPrefix(Self.architectureVariablePrefix) && !known.contains(variable) {
            throw CommandError(
                "environment \(variable) names no setting of a known architecture (\(ids.joined(separator: ", "))); "
                    + "see learn.architectures in Docs/configuration.md"
            )
        }
    }
}
