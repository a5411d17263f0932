/// The bounded queue between the scoring route and the ranking writer: plain state, no I/O, no locking (its owner,
/// ``RankingRecorder``, holds the lock).
///
/// A push never waits: when the queue holds ``capacity`` records the new one is refused, and the caller counts it as
/// dropped.
struct RankingQueue {
    /// Most records held at once.
    let capacity: Int
    private var items: [RankingRecord] = []
    private var head = 0

    init(capacity: Int) {
        precondition(capacity >= 1, "a ranking queue holds at least one record")
        self.capacity = capacity
    }

    /// Records waiting.
    var count: Int { items.count - head }

    var isEmpty: Bool { count == 0 }

    /// Appends `record` unless the queue is full.
    /// - Returns: Whether it was queued.
    mutating func push(_ record: RankingRecord) -> Bool {
        guard count < capacity else { return false }
        items.append(record)
        return true
    }

    /// Removes and returns up to `limit` records, oldest first.
    mutating func take(upTo limit: Int) -> [RankingRecord] {
        let end = min(items.count, head + limit)
        let batch = Array(items[head..<end])
        head = end
        // Compact once the consumed prefix dominates, so memory stays bounded by the capacity.
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= capacity {
            items.removeFirst(head)
            head = 0
        }
        return batch
    }
}
