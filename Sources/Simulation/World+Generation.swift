import ClickLog
import Model

// MARK: - Random helpers

extension SplitMix64 {
    /// A uniform `Double` in `[0, 1)` from the top 53 bits.
    mutating func unit() -> Double {
        Double(next() >> 11) / Double(UInt64(1) << 53)
    }

    /// A uniform integer in `0..<bound` (bound > 0).
    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    /// An approximately normal sample (sum of four uniforms), mean 0, standard deviation `sigma`.
    mutating func gaussian(_ sigma: Float) -> Float {
        var sum: Float = 0
        for _ in 0..<4 { sum += nextSymmetric(1) }
        return sum * sigma * 0.866_025_4
    }
}

// MARK: - Words

enum Words {
    static let onsets = ["b", "k", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh", "tr", "br"]
    static let vowels = ["a", "e", "i", "o", "u", "oo", "ee", "ai"]
    static let codas = ["", "", "n", "r", "s", "k", "l", "x"]
    /// Generic query modifiers (never tags of a concept).
    static let modifiers = [
        "photo", "pictures", "images", "hd", "cute", "funny", "baby", "wallpaper", "drawing", "close up",
        "black and white", "vintage", "new", "best", "small", "big", "red", "blue", "at night", "outdoor",
    ]

    /// A pronounceable pseudo-word of `syllables` syllables.
    static func word(_ syllables: Int, _ rng: inout SplitMix64) -> String {
        var text = ""
        for i in 0..<syllables {
            text += onsets[rng.below(onsets.count)] + vowels[rng.below(vowels.count)]
            if i == syllables - 1 { text += codas[rng.below(codas.count)] }
        }
        return text
    }

    /// `count` distinct pseudo-words, none in `taken` (which is updated).
    static func distinct(
        _ count: Int,
        syllables: ClosedRange<Int>,
        taken: inout Set<String>,
        _ rng: inout SplitMix64
    )
        -> [String]
    {
        var out: [String] = []
        while out.count < count {
            let n = syllables.lowerBound + rng.below(syllables.count)
            let w = word(n, &rng)
            if taken.insert(w).inserted { out.append(w) }
        }
        return out
    }

    /// A typo: one character dropped, doubled or the word truncated ("bump" → "bu").
    static func typo(_ word: String, _ rng: inout SplitMix64) -> String {
        var chars = Array(word)
        guard chars.count > 3 else { return word }
        switch rng.below(3) {
        case 0: chars.remove(at: 1 + rng.below(chars.count - 1))
        case 1:
            let i = rng.below(chars.count)
            chars.insert(chars[i], at: i)
        default: chars = Array(chars.prefix(max(2, chars.count - 1 - rng.below(2))))
        }
        return String(chars)
    }
}

// MARK: - Generation

extension World {
    /// Tags an accurate tagger knows per concept (the name included).
    static let vocabularySize = 8
    /// Off-concept filler tags known to the tagger.
    static let fillerSize = 800
    /// Groups of textual concepts sharing one weak prototype.
    static let textualGroups = 3

    static func makeConcepts(_ c: WorldConfiguration, _ rng: inout SplitMix64) -> [Concept] {
        var taken = Set(Words.modifiers.flatMap { $0.split(separator: " ").map(String.init) })
        let visualCount = Int((Double(c.concepts) * c.visualShare).rounded())
        var order = Array(0..<c.concepts)
        order.shuffle(using: &rng)
        var isVisual = [Bool](repeating: false, count: c.concepts)
        for i in order.prefix(visualCount) { isVisual[i] = true }
        // The shifting concepts: a share of the visual ones, drawn from their own stream.
        var shiftRandom = SplitMix64(seed: c.seed ^ 0x5348_4946_5453)
        let visualConcepts = order.prefix(visualCount).sorted()
        var shifting = Set<Int>()
        for i in visualConcepts where shiftRandom.unit() < c.shiftedShare { shifting.insert(i) }
        if shifting.isEmpty, c.shiftedShare > 0, let first = visualConcepts.first { shifting.insert(first) }
        let shared = (0..<textualGroups).map { _ in unitVector(c.dimension, &rng) }
        return (0..<c.concepts).map { i in
            let words = Words.distinct(vocabularySize, syllables: 2...3, taken: &taken, &rng)
            let intent: Intent = isVisual[i] ? .visual : .textual
            let prototype = intent == .visual ? unitVector(c.dimension, &rng) : shared[i % textualGroups]
            return Concept(
                index: i,
                name: words[0],
                vocabulary: words,
                intent: intent,
                shifts: shifting.contains(i),
                prototype: prototype
            )
        }
    }

    static func unitVector(_ d: Int, _ rng: inout SplitMix64) -> [Float] {
        var v = (0..<d).map { _ in rng.gaussian(1) }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 { v = v.map { $0 / norm } }
        return v
    }

    static func makeImages(
        _ c: WorldConfiguration,
        _ concepts: [Concept],
        _ rng: inout SplitMix64
    )
        -> [SimulatedImage]
    {
        var taken = Set(concepts.flatMap(\.vocabulary))
        let filler = Words.distinct(fillerSize, syllables: 1...3, taken: &taken, &rng)
        let uploads = Int(Double(c.images) * c.newUploadShare)
        let scale = Float(c.dimension).squareRoot()
        return (0..<c.images).map { i in
            // Every concept gets at least two new uploads and two pool images when sizes allow.
            let isNewUpload = i >= c.images - uploads
            let slot = isNewUpload ? i - (c.images - uploads) : i
            let conceptIndex = slot < 2 * c.concepts ? slot % c.concepts : rng.below(c.concepts)
            let concept = concepts[conceptIndex]
            let strength = rng.unit()
            // Regions: the prototype in some cells (fewer and weaker for textual concepts), noise elsewhere.
            let visual = concept.intent == .visual
            let cells = max(1, Int((Double(c.regions) * (visual ? 0.2 + 0.6 * strength : 0.25)).rounded()))
            let amplitude: Float = (visual ? 1.5 : 0.6) * scale
            var prototypeCell = [Bool](repeating: false, count: c.regions)
            var order = Array(0..<c.regions)
            order.shuffle(using: &rng)
            for r in order.prefix(cells) { prototypeCell[r] = true }
            var regions = [Float](repeating: 0, count: c.regions * c.dimension)
            for r in 0..<c.regions {
                for d in 0..<c.dimension {
                    let signal = prototypeCell[r] ? amplitude * concept.prototype[d] : 0
                    regions[r * c.dimension + d] = signal + rng.gaussian(1)
                }
            }
            // Keywords: the tagger is accurate for named entities, mostly wrong for visual concepts.
            let count = c.minKeywords + rng.below(c.maxKeywords - c.minKeywords + 1)
            let onConcept = visual ? 0.08 : 0.25 + 0.5 * strength
            let otherConcept = visual ? 0.25 : 0.05
            var keywords: [String] = []
            var seen = Set<String>()
            var attempts = 0
            while keywords.count < count {
                attempts += 1
                let u = rng.unit()
                let word: String
                if u < onConcept && attempts < 40 * count {
                    word = concept.vocabulary[rng.below(concept.vocabulary.count)]
                } else if u < onConcept + otherConcept && attempts < 40 * count {
                    let other = concepts[rng.below(concepts.count)]
                    word = other.vocabulary[rng.below(other.vocabulary.count)]
                } else {
                    word = filler[rng.below(filler.count)]
                }
                if seen.insert(word).inserted { keywords.append(word) }
            }
            return SimulatedImage(
                key: "sim" + padded(i, 7),
                concept: conceptIndex,
                strength: strength,
                keywords: keywords,
                regions: regions,
                isNewUpload: isNewUpload
            )
        }
    }

    static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// A query for `concept`: its name, sometimes a tag of the concept, sometimes generic modifiers, sometimes a
    /// typo in the last word; normalised and unique (tracked in `used`).
    static func makeQueryText(_ concept: Concept, _ used: inout Set<String>, _ rng: inout SplitMix64) -> String {
        var attempt = 0
        while true {
            attempt += 1
            var words = [concept.name]
            if rng.unit() < 0.5 { words.append(concept.vocabulary[1 + rng.below(concept.vocabulary.count - 1)]) }
            for _ in 0..<rng.below(3) { words.append(Words.modifiers[rng.below(Words.modifiers.count)]) }
            if rng.unit() < 0.5 { words.swapAt(0, rng.below(words.count)) }
            if words.count > 1, rng.unit() < 0.2 { words[words.count - 1] = Words.typo(words[words.count - 1], &rng) }
            if attempt > 50 { words.append("n" + String(attempt)) }
            let text = QueryNormalizer.normalize(words.joined(separator: " "))
            if used.insert(text).inserted { return text }
        }
    }

    static func makeTrainingQueries(
        _ c: WorldConfiguration,
        _ concepts: [Concept],
        _ images: [SimulatedImage],
        _ used: inout Set<String>,
        _ rng: inout SplitMix64
    ) -> [SimulatedQuery] {
        let pool = images.indices.filter { !images[$0].isNewUpload }
        var poolByConcept = [[Int]](repeating: [], count: concepts.count)
        for i in pool { poolByConcept[images[i].concept].append(i) }
        return (0..<c.trainingQueries).map { _ in
            let concept = concepts[rng.below(concepts.count)]
            let text = makeQueryText(concept, &used, &rng)
            // The engine's list: about half the page from the concept, the rest anything, ranked by a noisy
            // relevance that only partly agrees with the user.
            var chosen: [Int] = []
            var inList = Set<Int>()
            let own = poolByConcept[concept.index]
            let ownWanted = min(own.count, c.resultsPerPage / 2)
            var guardCount = 0
            while chosen.count < ownWanted && guardCount < 100 * c.resultsPerPage {
                guardCount += 1
                let i = own[rng.below(own.count)]
                if inList.insert(i).inserted { chosen.append(i) }
            }
            while chosen.count < c.resultsPerPage {
                let i = pool[rng.below(pool.count)]
                if inList.insert(i).inserted { chosen.append(i) }
            }
            let keyed = chosen.map { i -> (Int, Double) in
                let same = images[i].concept == concept.index
                return (i, (same ? 0.5 + 0.5 * images[i].strength : 0.3) + 0.6 * rng.unit())
            }
            let shown = keyed.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map(\.0)
            return SimulatedQuery(
                text: text,
                concept: concept.index,
                intent: concept.intent,
                shifts: concept.shifts,
                shown: shown
            )
        }
    }

    static func makeHeldOutQueries(
        _ c: WorldConfiguration,
        _ concepts: [Concept],
        _ images: [SimulatedImage],
        _ used: inout Set<String>,
        _ rng: inout SplitMix64
    ) -> [HeldOutQuery] {
        let uploads = images.indices.filter { images[$0].isNewUpload }
        var byConcept = [[Int]](repeating: [], count: concepts.count)
        for i in uploads { byConcept[images[i].concept].append(i) }
        return (0..<c.heldOutQueries).map { _ in
            let concept = concepts[rng.below(concepts.count)]
            let text = makeQueryText(concept, &used, &rng)
            let own = byConcept[concept.index]
            let ownWanted = max(1, min(own.count, c.candidatesPerHeldOutQuery / 3))
            var chosen: [Int] = []
            var inList = Set<Int>()
            while chosen.count < ownWanted {
                let i = own[rng.below(own.count)]
                if inList.insert(i).inserted { chosen.append(i) }
            }
            while chosen.count < c.candidatesPerHeldOutQuery {
                let i = uploads[rng.below(uploads.count)]
                if inList.insert(i).inserted { chosen.append(i) }
            }
            chosen.shuffle(using: &rng)
            let candidates = chosen.map { i -> (image: Int, label: RelevanceLabel) in
                let image = images[i]
                guard image.concept == concept.index else { return (i, .bad) }
                return (i, image.strength >= excellentStrength ? .excellent : .good)
            }
            return HeldOutQuery(text: text, concept: concept.index, candidates: candidates)
        }
    }
}
