/// A query of the simulated world, already normalised with `QueryNormalizer`.
public struct SimulatedQuery: Sendable, Hashable {
    /// The normalised query text (unique within the world).
    public var text: String
    /// Index of the concept the query names.
    public var concept: Int
    /// The query's intent in the original click stream.
    public var intent: Intent
    /// Whether the intent turns textual in the shifted click stream: the query's concept shifts
    /// (``Concept/shifts``; only ever visual-intent concepts).
    public var shifts: Bool
    /// The ranked list the search engine showed (image indices; training queries only).
    public var shown: [Int]
}
