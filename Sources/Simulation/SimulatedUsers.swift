import ClickLog
import Model

/// The users of a simulated world, searching live: each visit issues one training query of the world with its
/// candidate images, and the user's clicks on the ranking a scorer returned follow the world's truth under a
/// ``UserModel``.
///
/// Pure and deterministic: a visit and the clicks on a given page are functions of the seed, the visit's number
/// and the page, whatever order visits are made in and however long the scorer takes.
public struct SimulatedUsers: Sendable {
    /// One page view: a user issues a query and is shown a ranking of its candidates.
    public struct Visit: Sendable, Hashable {
        /// The visit's sequence number (from 0).
        public var number: Int
        /// Index of the query in ``World/trainingQueries``.
        public var query: Int
        /// The normalised query text.
        public var text: String
        /// The candidate image keys the search front end asks the scorer to rank: the query's page in the world
        /// (``SimulatedQuery/shown``).
        public var candidates: [String]
        /// The session identifier of the page view (`sim-<seed>-<number>`).
        public var session: String
    }

    /// One click on a page.
    public struct PageClick: Sendable, Hashable {
        /// Zero-based rank of the clicked image on the page.
        public var position: Int
        /// The clicked image's key.
        public var image: String

        /// A click on `image` at `position`.
        public init(position: Int, image: String) {
            self.position = position
            self.image = image
        }
    }

    /// The world whose truth decides clicks.
    public let world: World
    /// How users examine a page.
    public let model: UserModel
    /// Seed of every choice the users make.
    public let seed: UInt64
    private let imageIndex: [String: Int]

    /// The users of `world`.
    /// - Parameters:
    ///   - world: The world; visits draw from its training queries.
    ///   - model: How users examine a page.
    ///   - seed: Seed of the users' choices.
    /// - Important: Check ``UserModel/problem`` first; a model with a problem traps.
    public init(world: World, model: UserModel, seed: UInt64) {
        precondition(model.problem == nil, model.problem ?? "")
        precondition(!world.trainingQueries.isEmpty, "the world has no training queries")
        self.world = world
        self.model = model
        self.seed = seed
        var index: [String: Int] = [:]
        for (i, image) in world.images.enumerated() { index[image.key] = i }
        imageIndex = index
    }

    /// The visit numbered `number`: a training query drawn uniformly, with its candidates.
    public func visit(_ number: Int) -> Visit {
        var rng = stream(number, salt: 0x5155_4552_5953)
        let query = rng.below(world.trainingQueries.count)
        let simulated = world.trainingQueries[query]
        return Visit(
            number: number,
            query: query,
            text: simulated.text,
            candidates: simulated.shown.map { world.images[$0].key },
            session: "sim-\(seed)-\(number)"
        )
    }

    /// The images a visit's page shows: the ranking's first ``UserModel/pageSize`` keys (all of them when nil).
    public func page(of ranking: [String]) -> [String] {
        model.pageSize.map { Array(ranking.prefix($0)) } ?? ranking
    }

    /// What the user of `visit` clicks on `page`.
    ///
    /// Only images on the page are ever clicked; an image the world does not know is never clicked. The user's
    /// intent is the query's, or textual when `shifted` and the query's concept shifts
    /// (``World/intent(of:shifted:)``, as `amc simulate --shifted` does offline).
    /// - Parameters:
    ///   - page: The image keys shown, in rank order (see ``page(of:)``).
    ///   - visit: The visit the page answers.
    ///   - shifted: Whether the intent shift has happened.
    /// - Returns: The clicks, in rank order.
    public func clicks(on page: [String], for visit: Visit, shifted: Bool) -> [PageClick] {
        var rng = stream(visit.number, salt: 0x434c_4943_4b53)
        let concept = world.trainingQueries[visit.query].concept
        let intent = world.intent(of: visit.query, shifted: shifted)
        var clicks: [PageClick] = []
        for (rank, key) in page.enumerated() {
            let attractiveness = imageIndex[key].map {
                world.attractiveness(image: $0, concept: concept, intent: intent)
            }
            switch model.examination {
            case .positionBased:
                // Both draws are always made, so the stream does not depend on what was clicked above.
                let examined = rng.unit() < model.examinationProbability(rank: rank)!
                let attracted = rng.unit() < (attractiveness ?? 0)
                if examined && attracted { clicks.append(PageClick(position: rank, image: key)) }
            case .cascade:
                if rng.unit() < (attractiveness ?? 0) {
                    clicks.append(PageClick(position: rank, image: key))
                    return clicks
                }
            }
        }
        return clicks
    }

    /// A random stream of its own for one visit and purpose.
    private func stream(_ number: Int, salt: UInt64) -> SplitMix64 {
        var seeder = SplitMix64(seed: seed ^ salt ^ (UInt64(number + 1) &* 0x9e37_79b9_7f4a_7c15))
        return SplitMix64(seed: seeder.next())
    }
}
