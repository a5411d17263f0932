/// One click stream of a simulated world: aggregated triads and the per-click events behind them.
public struct SimulatedClicks: Sendable, Hashable {
    /// One aggregated `(image, query, count)` triad; indices into ``World/trainingQueries`` and ``World/images``.
    public struct Triad: Sendable, Hashable {
        /// Index of the training query.
        public var query: Int
        /// Index of the image.
        public var image: Int
        /// Number of clicks, at least 1.
        public var clicks: Int
    }

    /// One click with the page it happened on.
    public struct Event: Sendable, Hashable {
        /// Index of the training query.
        public var query: Int
        /// Index of the clicked image.
        public var image: Int
        /// Zero-based rank of the clicked image on the page.
        public var position: Int
        /// Session number, global and increasing; also the timestamp's minute offset.
        public var session: Int
    }

    /// Whether this is the shifted stream.
    public var shifted: Bool
    /// Aggregated clicks, grouped by query in query order, then in rank order.
    public var triads: [Triad]
    /// Every click, in session order.
    public var events: [Event]
}
