import Evaluation
import Model

/// The split of pairs into training and held-out queries, and the examples and gate slice built from them.
///
/// The split is by a stable hash of the query (FNV-1a, not seeded), so a held-out query stays held out in every
/// cycle and every version: fine-tuning never trains on the gate's slice.
public enum TrainingData {
    /// Whether a query belongs to the held-out slice.
    /// - Parameters:
    ///   - query: The normalised query.
    ///   - percent: The held-out percentage (0–100).
    public static func isHeldOut(_ query: String, percent: Int) -> Bool {
        Int(LetterTrigramHasher.fnv1a(query.utf8) % 100) < percent
    }

    /// What a fine-tuning cycle learns from, among the training pairs of its window's queries
    /// (``PairStore/readWindow(changedSince:evidenceSince:)``): the positives are the pairs their recent evidence
    /// grades at least 1 — the window's clicks, and the horizon's still recent ones again, so every cycle fits what
    /// users of those queries prefer now; the in-query negatives come from the pairs users examined recently
    /// (``RelevancePair/wasRecentlyExamined``: clicked, or passed over for an image below; any pair of a query whose
    /// events carry no impressions). A pair nobody was shown lately says nothing about what users want now: it is
    /// never a negative.
    /// - Parameter training: The window's queries' training pairs (held-out queries removed).
    static func fineTuning(_ training: [RelevancePair]) -> (positives: [RelevancePair], context: [RelevancePair]) {
        (training.filter { $0.recentGrade >= 1 }, training.filter(\.wasRecentlyExamined))
    }

    /// Training examples for one epoch: every pair whose grade (by `grade`) is at least 1, repeated that many
    /// times (a pair with more evidence weighs more), in a seeded random order. Each gets `negatives` negatives:
    /// up to `hardNegatives` of them are images of the same query with a lower grade in `context` (in-query
    /// preferences: what users clicked less, or stopped clicking, for this very query), the rest catalog images
    /// drawn uniformly (never the positive itself). Pairs whose image is not in the catalog are skipped.
    /// - Parameters:
    ///   - pairs: The positives' pairs.
    ///   - context: Pairs the in-query negatives come from (all training pairs; `pairs` is a subset).
    ///   - grade: Which grade weighs a pair: its total (bootstrap) or its window's (fine-tuning).
    ///   - table: The catalog features.
    ///   - queryInputs: Hashed queries (filled on demand).
    ///   - negatives: Negatives per example.
    ///   - hardNegatives: Most of them taken from the same query's lower-graded images.
    ///   - seed: The run's seed; the epoch is mixed in.
    ///   - epoch: The epoch number.
    static func examples(
        _ pairs: [RelevancePair],
        context: [RelevancePair],
        grade: KeyPath<RelevancePair, Int>,
        table: ImageFeatureTable,
        queryInputs: inout QueryInputs,
        negatives: Int,
        hardNegatives: Int,
        seed: UInt64,
        epoch: Int,
        encodings: ((_ keys: [String]) -> [String: EncodedImage])? = nil
    ) -> [TrainingExample] {
        let planned = plan(
            pairs,
            context: context,
            grade: grade,
            table: table,
            negatives: negatives,
            hardNegatives: hardNegatives,
            seed: seed,
            epoch: epoch
        )
        let encoded = encodings.map { encode in
            var keys = Set<String>()
            for example in planned {
                keys.insert(table.keys[example.positive])
                for negative in example.negatives { keys.insert(table.keys[negative]) }
            }
            return encode(keys.sorted())
        }
        return planned.map { planned in
            var example = TrainingExample(
                query: queryInputs.input(planned.query),
                positive: table.features(at: planned.positive),
                negatives: planned.negatives.map(table.features(at:))
            )
            if let encoded, let positive = encoded[table.keys[planned.positive]] {
                let negatives = planned.negatives.compactMap { encoded[table.keys[$0]] }
                if negatives.count == planned.negatives.count {
                    example.encoded = TrainingExample.EncodedImages(positive: positive, negatives: negatives)
                }
            }
            return example
        }
    }

    /// One example of ``examples(_:context:grade:table:queryInputs:negatives:hardNegatives:seed:epoch:)`` as
    /// catalog positions, before any image's features are read.
    struct PlannedExample {
        var query: String
        var positive: Int
        var negatives: [Int]
    }

    /// The examples of one epoch as catalog positions: the same draws, in the same order, as
    /// ``examples(_:context:grade:table:queryInputs:negatives:hardNegatives:seed:epoch:)``, which turns them into
    /// features. A fine-tuning cycle plans its epochs first, to load only the features they use.
    static func plan(
        _ pairs: [RelevancePair],
        context: [RelevancePair],
        grade: KeyPath<RelevancePair, Int>,
        table: ImageFeatureTable,
        negatives: Int,
        hardNegatives: Int,
        seed: UInt64,
        epoch: Int
    ) -> [PlannedExample] {
        var rng = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1))
        var byQuery: [String: [(position: Int, grade: Int)]] = [:]
        if hardNegatives > 0 {
            for pair in context {
                guard let position = table.position(of: pair.image) else { continue }
                byQuery[pair.query, default: []].append((position, pair[keyPath: grade]))
            }
        }
        var examples: [PlannedExample] = []
        var lower: [Int] = []
        for pair in pairs {
            let weight = pair[keyPath: grade]
            guard weight >= 1, let positive = table.position(of: pair.image) else { continue }
            lower.removeAll(keepingCapacity: true)
            for other in byQuery[pair.query] ?? [] where other.grade < weight { lower.append(other.position) }
            for _ in 0..<weight {
                var sampled: [Int] = []
                sampled.reserveCapacity(negatives)
                for _ in 0..<min(hardNegatives, negatives, lower.count) {
                    sampled.append(lower[Int(rng.next() % UInt64(lower.count))])
                }
                while sampled.count < negatives, table.count > 1 {
                    let index = Int(rng.next() % UInt64(table.count))
                    if index != positive { sampled.append(index) }
                }
                examples.append(PlannedExample(query: pair.query, positive: positive, negatives: sampled))
            }
        }
        // Fisher–Yates with the same generator.
        if examples.count > 1 {
            for i in stride(from: examples.count - 1, to: 0, by: -1) {
                examples.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
        }
        return examples
    }

    /// The gate's judged queries: per held-out query, its clicked images graded by `grade`, plus
    /// catalog images it never clicked (gain 0) up to `candidates`, drawn with a generator seeded by the query so
    /// every version is judged on the same lists. At most `maxQueries` queries (a stable hash sample).
    ///
    /// With `onlyExamined`, a query's images that users did not examine lately
    /// (``RelevancePair/wasRecentlyExamined`` false) are left out of its list — neither judged nor drawn as filler:
    /// their recent grade of 0 says nobody looked at them, not that they are irrelevant (a condensed list).
    static func gateQueries(
        _ heldOut: [RelevancePair],
        grade: KeyPath<RelevancePair, Int>,
        onlyExamined: Bool = false,
        table: ImageFeatureTable,
        candidates: Int,
        maxQueries: Int
    ) -> [JudgedQuery] {
        var byQuery: [String: [RelevancePair]] = [:]
        var unjudged: [String: Set<String>] = [:]
        for pair in heldOut where table.position(of: pair.image) != nil {
            if onlyExamined && !pair.wasRecentlyExamined {
                unjudged[pair.query, default: []].insert(pair.image)
            } else {
                byQuery[pair.query, default: []].append(pair)
            }
        }
        let chosen = byQuery.keys.sorted {
            (LetterTrigramHasher.fnv1a($0.utf8), $0) < (LetterTrigramHasher.fnv1a($1.utf8), $1)
        }.prefix(maxQueries)
        var judged: [JudgedQuery] = []
        for query in chosen.sorted() {
            let clicked = byQuery[query]!.sorted { $0.image < $1.image }
            var images = clicked.map(\.image)
            var gains = clicked.map { $0[keyPath: grade] }
            var taken = Set(images).union(unjudged[query] ?? [])
            var rng = SplitMix64(seed: UInt64(LetterTrigramHasher.fnv1a(query.utf8)))
            var attempts = 0
            while images.count < candidates, taken.count < table.count, attempts < candidates * 20 {
                attempts += 1
                let key = table.keys[Int(rng.next() % UInt64(table.count))]
                if taken.insert(key).inserted {
                    images.append(key)
                    gains.append(0)
                }
            }
            judged.append(JudgedQuery(query: query, images: images, gains: gains))
        }
        return judged
    }
}

/// The hashed form of each query (``QueryInput``), computed once per query.
struct QueryInputs {
    let buckets: Int
    private var cache: [String: QueryInput] = [:]

    init(buckets: Int) {
        self.buckets = buckets
    }

    mutating func input(_ query: String) -> QueryInput {
        if let input = cache[query] { return input }
        let input = QueryInput(query, buckets: buckets)
        cache[query] = input
        return input
    }
}

/// Scores judged candidates with a model over the catalog features.
public struct CandidateScorer: Sendable {
    private let table: ImageFeatureTable
    private let encodings: ImageEncodingCache?
    private var precision = EncodingPrecision.float32

    /// - Parameters:
    ///   - table: The catalog features.
    ///   - precision: How ``scores(_:query:images:)`` stores the candidates' encodings before scoring them, as a
    ///     scoring worker does (`serve.encoding`); float32 scores exactly like the raw features.
    public init(table: ImageFeatureTable, precision: EncodingPrecision = .float32) {
        self.init(table: table, encodings: nil)
        self.precision = precision
    }

    /// - Parameters:
    ///   - table: The catalog features (those of every judged image loaded).
    ///   - encodings: Image encodings kept across evaluations: a model that shares image encodings with the one
    ///     they were made by (a fine-tune of the same lineage) encodes only the images not encoded yet.
    init(table: ImageFeatureTable, encodings: ImageEncodingCache?) {
        self.table = table
        self.encodings = encodings
    }

    /// Scores of `images` for `query` (input order); images not in the catalog score `-infinity` (ranked last).
    public func scores(_ model: any ScoringModel, query: String, images: [String]) -> [Double] {
        let encoded = model.encodeQuery(query)
        var known: [ImageFeatures] = []
        var slots: [Int?] = []
        for key in images {
            if let features = table[key] {
                slots.append(known.count)
                known.append(features)
            } else {
                slots.append(nil)
            }
        }
        // Encoded images score bit-identically to raw features (AMC's fast path), and every architecture has them.
        let scored = model.score(
            query: encoded,
            encodedImages: EncodedImage.stored(model.encodeImages(known), at: precision)
        )
        return slots.map { slot in slot.map { Double(scored[$0].score) } ?? -.infinity }
    }

    /// Held-out metrics of a model on judged queries.
    public func evaluate(_ model: any ScoringModel, on queries: [JudgedQuery]) -> RankingMetrics {
        evaluateEach(model, on: queries).metrics
    }

    /// Held-out metrics of a model on judged queries, and its NDCG@5 on each query the metrics count (those with a
    /// relevant image, in order): what the gate compares query by query.
    func evaluateEach(
        _ model: any ScoringModel,
        on queries: [JudgedQuery]
    ) -> (metrics: RankingMetrics, ndcg5: [Double]) {
        var each: [Double] = []
        let metrics = evaluate(model, on: queries) { judged, scores in
            each.append(Evaluator.ndcg(of: judged, scores: scores, cutoff: 5) ?? 0)
        }
        return (metrics, each)
    }

    private func evaluate(
        _ model: any ScoringModel,
        on queries: [JudgedQuery],
        observing observe: (JudgedQuery, [Double]) -> Void
    ) -> RankingMetrics {
        guard let encodings else {
            return Evaluator.evaluate(queries) { judged in
                let values = scores(model, query: judged.query, images: judged.images)
                observe(judged, values)
                return values
            }
        }
        let byKey = encodings.encodings(
            of: queries.flatMap(\.images).filter { table.position(of: $0) != nil },
            by: model,
            table: table
        )
        return Evaluator.evaluate(queries) { judged in
            var known: [EncodedImage] = []
            var slots: [Int?] = []
            for key in judged.images {
                if let image = byKey[key] {
                    slots.append(known.count)
                    known.append(image)
                } else {
                    slots.append(nil)
                }
            }
            let scored = model.score(query: model.encodeQuery(judged.query), encodedImages: known)
            let values = slots.map { slot in slot.map { Double(scored[$0].score) } ?? -.infinity }
            observe(judged, values)
            return values
        }
    }
}
