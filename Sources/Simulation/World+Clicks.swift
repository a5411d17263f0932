import Model

extension World {
    /// Examination probability of a zero-based rank: `1 / (rank + 1)^k` (the position bias of the user).
    /// - Parameter rank: Zero-based rank on the page.
    /// - Returns: The probability in (0, 1].
    public func examination(rank: Int) -> Double {
        1 / Double(rank + 1).power(configuration.positionBiasExponent)
    }

    /// How well an image's tags agree with a concept: twice the share of its keywords in the concept's
    /// vocabulary, capped at 1.
    /// - Returns: The agreement in [0, 1].
    public func tagAgreement(image: Int, concept: Int) -> Double {
        let vocabulary = Set(concepts[concept].vocabulary)
        let keywords = images[image].keywords
        let matches = keywords.reduce(0) { $0 + (vocabulary.contains($1) ? 1 : 0) }
        return min(1, 2 * Double(matches) / Double(max(1, keywords.count)))
    }

    /// Probability that a user with `intent` who examines `image` for a query on `concept` clicks it.
    /// - Returns: Visual intent: driven by the image's concept and strength (the pixels). Textual intent: driven by
    ///   ``tagAgreement(image:concept:)`` (the tags).
    public func attractiveness(image: Int, concept: Int, intent: Intent) -> Double {
        switch intent {
        case .visual:
            images[image].concept == concept ? 0.15 + 0.75 * images[image].strength : 0.02
        case .textual:
            0.02 + 0.9 * tagAgreement(image: image, concept: concept)
        }
    }

    /// The label of an image for a query on a concept whose intent turned textual: what its users now click, the
    /// tags — Excellent when ``tagAgreement(image:concept:)`` ≥ 0.3, Good when ≥ 0.1, Bad otherwise.
    public func shiftedLabel(image: Int, concept: Int) -> RelevanceLabel {
        let agreement = tagAgreement(image: image, concept: concept)
        return agreement >= 0.3 ? .excellent : agreement >= 0.1 ? .good : .bad
    }

    /// The intent a training query's users have: the query's own, or textual when `shifted` and the query's concept
    /// shifts (``SimulatedQuery/shifts``).
    /// - Parameters:
    ///   - query: Index into ``trainingQueries``.
    ///   - shifted: Whether the intent shift has happened.
    /// - Returns: The intent that decides what the query's users click.
    public func intent(of query: Int, shifted: Bool) -> Intent {
        shifted && trainingQueries[query].shifts ? .textual : trainingQueries[query].intent
    }

    /// Simulates the position-biased user over every training query's page.
    ///
    /// Each query has its own random stream derived from the seed and its index, so the shifted stream differs
    /// from the original only in the clicks of the queries whose intent shifts.
    /// - Parameter shifted: Whether shifting queries (``SimulatedQuery/shifts``) behave with textual intent.
    /// - Returns: The click stream.
    public func clicks(shifted: Bool = false) -> SimulatedClicks {
        var triads: [SimulatedClicks.Triad] = []
        var events: [SimulatedClicks.Event] = []
        let sessions = configuration.sessionsPerQuery
        let examine = (0..<configuration.resultsPerPage).map { examination(rank: $0) }
        for (q, query) in trainingQueries.enumerated() {
            var seeder = SplitMix64(seed: configuration.seed ^ (UInt64(q + 1) &* 0xd1b5_4a32_d192_ed03))
            var rng = SplitMix64(seed: seeder.next())
            let intent = self.intent(of: q, shifted: shifted)
            let attract = query.shown.map { attractiveness(image: $0, concept: query.concept, intent: intent) }
            var counts = [Int](repeating: 0, count: query.shown.count)
            for s in 0..<sessions {
                for (rank, image) in query.shown.enumerated() {
                    let examined = rng.unit() < examine[rank]
                    let clicked = rng.unit() < attract[rank]
                    guard examined && clicked else { continue }
                    counts[rank] += 1
                    events.append(.init(query: q, image: image, position: rank, session: q * sessions + s))
                }
            }
            for (rank, image) in query.shown.enumerated() where counts[rank] > 0 {
                triads.append(.init(query: q, image: image, clicks: counts[rank]))
            }
        }
        return SimulatedClicks(shifted: shifted, triads: triads, events: events)
    }
}

extension Double {
    /// `self^exponent` for `self > 0`, as `exp(exponent · log(self))` with series that are exact enough for
    /// probabilities and identical on every platform (no libm).
    func power(_ exponent: Double) -> Double {
        guard self > 0 else { return 0 }
        return Self.exponential(exponent * Self.logarithm(self))
    }

    private static func logarithm(_ x: Double) -> Double {
        // x = m · 2^e with m in [1, 2); ln m via atanh series.
        var m = x
        var e = 0.0
        while m >= 2 {
            m /= 2
            e += 1
        }
        while m < 1 {
            m *= 2
            e -= 1
        }
        let t = (m - 1) / (m + 1)
        var term = t
        var sum = 0.0
        var k = 1.0
        while abs(term) > 1e-17 {
            sum += term / k
            term *= t * t
            k += 2
        }
        return 2 * sum + e * 0.693_147_180_559_945_3
    }

    private static func exponential(_ x: Double) -> Double {
        var n = 0
        var r = x
        while abs(r) > 0.5 {
            r /= 2
            n += 1
        }
        var term = 1.0
        var sum = 1.0
        var k = 1.0
        while abs(term) > 1e-17 {
            term *= r / k
            sum += term
            k += 1
        }
        for _ in 0..<n { sum *= sum }
        return sum
    }
}
