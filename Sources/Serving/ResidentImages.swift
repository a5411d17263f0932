import Model

/// The images an ``EncodedCatalog`` holds in memory, least recently scored first out: a key index over slots
/// linked newest to oldest, and the bytes their encodings hold. Pure bookkeeping (no I/O, no locking: the catalog
/// keeps it behind a mutex held only for these calls).
struct ResidentImages {
    /// One resident image.
    struct Entry: Sendable {
        /// Its encodings.
        var image: EncodedImage
        /// The keyword lists of the images encoded with it, and which one is its own: a request's candidates then
        /// refer to one shared object per batch rather than each to a list of its own, which a request would
        /// retain and release for every candidate (a cache miss each) only for explanations to read.
        private let keywordLists: KeywordLists
        private let keywordIndex: Int

        /// An image with keywords of its own.
        init(image: EncodedImage, keywords: [String]) {
            self.init(image: image, keywordLists: KeywordLists([keywords]), at: 0)
        }

        /// An image whose keywords are list `index` of `lists`.
        init(image: EncodedImage, keywordLists lists: KeywordLists, at index: Int) {
            precondition(lists.lists.indices.contains(index), "no keyword list \(index)")
            self.image = image
            keywordLists = lists
            keywordIndex = index
        }

        /// Its keywords (the catalog's strings, which explanations name).
        var keywords: [String] { keywordLists.lists[keywordIndex] }
    }

    /// The keywords of images encoded together, one list per image.
    final class KeywordLists: Sendable {
        let lists: [[String]]

        init(_ lists: [[String]]) {
            self.lists = lists
        }
    }

    private struct Slot {
        var key: String
        var entry: Entry?
        var newer: Int
        var older: Int
    }

    /// Bytes held by the resident images' encodings (``EncodedImage/byteCount``).
    private(set) var bytes = 0
    private var slots: [Slot] = []
    private var index: [String: Int] = [:]
    private var free: [Int] = []
    private var newest = -1
    private var oldest = -1

    /// The number of resident images.
    var count: Int { index.count }

    /// A resident image's entry, without making it more recent.
    func peek(_ key: String) -> Entry? { index[key].flatMap { slots[$0].entry } }

    /// A resident image's entry, made the most recently used; nil when it is not resident.
    mutating func use(_ key: String) -> Entry? {
        guard let slot = index[key] else { return nil }
        unlink(slot)
        linkNewest(slot)
        return slots[slot].entry
    }

    /// Makes `entry` resident as the most recently used (an image already resident is only made most recent), then
    /// evicts the least recently used images while the bytes exceed `budget`.
    /// - Returns: How many images were evicted.
    @discardableResult
    mutating func insert(_ key: String, _ entry: Entry, budget: Int?) -> Int {
        if use(key) != nil { return 0 }
        let slot: Int
        if let reused = free.popLast() {
            slot = reused
            slots[slot] = Slot(key: key, entry: entry, newer: -1, older: -1)
        } else {
            slot = slots.count
            slots.append(Slot(key: key, entry: entry, newer: -1, older: -1))
        }
        index[key] = slot
        bytes += entry.image.byteCount
        linkNewest(slot)
        guard let budget else { return 0 }
        var evicted = 0
        while bytes > budget, oldest != -1 {
            let victim = oldest
            unlink(victim)
            bytes -= slots[victim].entry?.image.byteCount ?? 0
            index[slots[victim].key] = nil
            slots[victim] = Slot(key: "", entry: nil, newer: -1, older: -1)
            free.append(victim)
            evicted += 1
        }
        return evicted
    }

    /// Resident keys, most recently used first.
    var keysByRecency: [String] {
        var keys: [String] = []
        var slot = newest
        while slot != -1 {
            keys.append(slots[slot].key)
            slot = slots[slot].older
        }
        return keys
    }

    private mutating func unlink(_ slot: Int) {
        let (newer, older) = (slots[slot].newer, slots[slot].older)
        if newer != -1 { slots[newer].older = older } else if newest == slot { newest = older }
        if older != -1 { slots[older].newer = newer } else if oldest == slot { oldest = newer }
        slots[slot].newer = -1
        slots[slot].older = -1
    }

    private mutating func linkNewest(_ slot: Int) {
        slots[slot].older = newest
        slots[slot].newer = -1
        if newest != -1 { slots[newest].newer = slot }
        newest = slot
        if oldest == -1 { oldest = slot }
    }
}
