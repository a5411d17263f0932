import Registry
import Synchronization

/// The snapshot being served, and the running experiments' candidates, swapped atomically.
///
/// Readers take the current ``ServedModel`` (and ``ServedExperiment``s) under a mutex held only for a reference
/// copy, so scoring never waits for a load; the watcher swaps in fully prepared snapshots.
public final class ModelHolder: Sendable {
    private let state = Mutex<ServedModel?>(nil)
    private let experimentState = Mutex<[ExperimentKind: ServedExperiment]>([:])

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

    /// The running experiment of `kind` this worker follows, nil when none runs (or its candidate is not loaded).
    public func experiment(_ kind: ExperimentKind) -> ServedExperiment? {
        experimentState.withLock { $0[kind] }
    }

    /// Every experiment this worker follows.
    public func experiments() -> [ServedExperiment] {
        experimentState.withLock { state in ExperimentKind.allCases.compactMap { state[$0] } }
    }

    /// Replaces (or with nil, drops) the followed experiment of `kind`.
    /// - Returns: The one it replaced.
    @discardableResult
    func setExperiment(_ kind: ExperimentKind, _ new: ServedExperiment?) -> ServedExperiment? {
        experimentState.withLock { state in
            defer { state[kind] = new }
            return state[kind]
        }
    }
}
