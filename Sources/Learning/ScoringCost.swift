import Evaluation
import Model

/// The in-process scoring cost of a model on an evaluation's candidates, as a scoring worker pays it per request:
/// the catalog images are encoded once (not timed), then each judged query is encoded and its pre-encoded
/// candidates scored in one call (timed).
public enum ScoringCost {
    /// Microseconds per candidate of encoding the queries and scoring their candidates.
    ///
    /// One untimed pass warms the model up; timed passes follow until at least ``minimumTimed`` has been measured
    /// (or ``maximumPasses``), and the total time is divided by the candidates scored.
    /// - Parameters:
    ///   - model: The model.
    ///   - labels: The judged queries whose images are the candidates (images not in `table` are skipped).
    ///   - table: The catalog features, hashed with the model's buckets.
    /// - Returns: Microseconds per candidate, nil when no query has a known candidate.
    public static func microsecondsPerCandidate(
        _ model: any ScoringModel,
        labels: [JudgedQuery],
        table: ImageFeatureTable
    ) -> Double? {
        let encoded = model.encodeImages(table.allFeatures)
        let requests: [(query: String, images: [EncodedImage])] = labels.compactMap { query in
            let images = query.images.compactMap { table.position(of: $0).map { encoded[$0] } }
            return images.isEmpty ? nil : (query.query, images)
        }
        guard !requests.isEmpty else { return nil }
        let clock = ContinuousClock()
        var checksum: Float = 0
        var elapsed = Duration.zero
        var candidates = 0
        for pass in 0...maximumPasses {
            for request in requests {
                let started = clock.now
                let scored = model.score(query: model.encodeQuery(request.query), encodedImages: request.images)
                let took = clock.now - started
                checksum += scored.first?.score ?? 0
                if pass > 0 {
                    elapsed += took
                    candidates += request.images.count
                }
            }
            if elapsed >= minimumTimed { break }
        }
        keepObservable(checksum)
        let (seconds, attoseconds) = elapsed.components
        return (Double(seconds) * 1e6 + Double(attoseconds) / 1e12) / Double(max(1, candidates))
    }

    /// Least measured time before the passes stop.
    public static let minimumTimed = Duration.milliseconds(200)
    /// Most timed passes.
    public static let maximumPasses = 50
}

/// Keeps a value computed from the scores observable, so the scoring is never optimised away.
@inline(never)
private func keepObservable(_ value: Float) {
    withExtendedLifetime(value) {}
}
