import Synchronization

/// The snapshot being served, swapped atomically.
///
/// Readers take the current ``ServedModel`` under a mutex held only for a reference copy, so scoring never waits
/// for a load; the watcher swaps in a fully prepared snapshot.
public final class ModelHolder: Sendable {
    private let state = Mutex<ServedModel?>(nil)

    /// An empty holder (no model yet: `/readyz` is 503 until the first swap).
    public init() {}

    /// The snapshot to use for one whole request, nil before the first load.
    public func current() -> ServedModel? {
        state.withLock { $0 }
    }

    /// Replaces the served snapshot.
    /// - Returns: The snapshot it replaced.
    @discardableResult
    func swap(_ new: ServedModel) -> ServedModel? {
        state.withLock { current in
            defer { current = new }
            return current
        }
    }
}
