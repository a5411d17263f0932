import ClickLog
import Model

/// A deterministic synthetic Clickture-style world: concepts, a catalog of images with region features and noisy
/// keywords, training queries with ranked result lists, and held-out queries with labelled candidates.
///
/// The world is a pure function of its ``WorldConfiguration``; generating twice gives equal values and
/// byte-identical serialisations.
public struct World: Sendable {
    /// Candidates of a held-out query's concept with at least this ``SimulatedImage/strength`` are Excellent.
    public static let excellentStrength = 0.6

    /// The configuration the world was generated from.
    public let configuration: WorldConfiguration
    /// The latent concepts.
    public let concepts: [Concept]
    /// The catalog.
    public let images: [SimulatedImage]
    /// Queries with clicks, each with the ranked list shown.
    public let trainingQueries: [SimulatedQuery]
    /// Labelled queries; their candidates are new uploads only.
    public let heldOutQueries: [HeldOutQuery]

    /// Generates the world.
    /// - Parameter configuration: Sizes, mix and seed.
    /// - Returns: The world.
    /// - Important: Check ``WorldConfiguration/problem`` first; a configuration with a problem traps.
    public init(configuration: WorldConfiguration) {
        precondition(configuration.problem == nil, configuration.problem ?? "")
        self.configuration = configuration
        var rng = SplitMix64(seed: configuration.seed)
        let concepts = Self.makeConcepts(configuration, &rng)
        let images = Self.makeImages(configuration, concepts, &rng)
        self.concepts = concepts
        self.images = images
        var used = Set<String>()
        self.trainingQueries = Self.makeTrainingQueries(configuration, concepts, images, &used, &rng)
        self.heldOutQueries = Self.makeHeldOutQueries(configuration, concepts, images, &used, &rng)
    }
}

/// A labelled query whose candidates are all new uploads.
public struct HeldOutQuery: Sendable, Hashable {
    /// The normalised query text.
    public var text: String
    /// Index of the concept the query names.
    public var concept: Int
    /// Candidate image indices with their labels, in generation order.
    public var candidates: [(image: Int, label: RelevanceLabel)]

    public static func == (a: Self, b: Self) -> Bool {
        a.text == b.text && a.concept == b.concept
            && a.candidates.map(\.image) == b.candidates.map(\.image)
            && a.candidates.map(\.label) == b.candidates.map(\.label)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(text)
        hasher.combine(concept)
    }
}

/// A Clickture relevance label (design §3; gains 3, 2, 0).
public enum RelevanceLabel: String, Sendable, Hashable, CaseIterable {
    /// Same concept, strong evidence.
    case excellent = "Excellent"
    /// Same concept.
    case good = "Good"
    /// Another concept.
    case bad = "Bad"
}
