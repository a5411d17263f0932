/// What decides relevance for a query: the pixels or the tags.
public enum Intent: String, Sendable, Hashable {
    /// The pixels decide; the auto-tagger's keywords for the concept are unreliable.
    case visual
    /// The tags decide (named entities); the pixels are ambiguous (weak, shared prototypes).
    case textual
}

/// A latent concept of the simulated world.
public struct Concept: Sendable, Hashable {
    /// Index of the concept in ``World/concepts``.
    public var index: Int
    /// The concept's name, the head word of its queries.
    public var name: String
    /// Words an accurate tagger would attach to the concept (the name first).
    public var vocabulary: [String]
    /// Whether the concept is searched for its look or for its name.
    public var intent: Intent
    /// Whether the concept's queries turn textual in the shifted click stream (visual concepts only).
    public var shifts: Bool
    /// The visual prototype: D floats of unit length (shared among textual concepts of one group).
    public var prototype: [Float]
}
