import Synchronization
import Testing

@testable import Serving

/// The connection limit's choice, without sockets: which connection makes room for a new one.
@Suite struct ConnectionRegistryTests {
    /// Registers a connection whose eviction is recorded under `name`.
    private func admit(
        _ registry: ConnectionRegistry,
        _ name: String,
        evictions: Evictions
    ) -> ConnectionRegistry.Admission {
        registry.admit(evict: { evictions.add(name) })
    }

    private func id(_ admission: ConnectionRegistry.Admission) throws -> Int {
        guard case .admitted(let id, let evict) = admission else { throw RegistryTestFailure() }
        evict?()
        return id
    }

    @Test func aNewConnectionTakesThePlaceOfTheSlowestHeadThenTheIdlestThenTheSlowestBody() throws {
        let registry = ConnectionRegistry(limit: 4)
        let evictions = Evictions()
        let answering = try id(admit(registry, "answering", evictions: evictions))
        let body = try id(admit(registry, "body", evictions: evictions))
        let idle = try id(admit(registry, "idle", evictions: evictions))
        _ = try id(admit(registry, "head", evictions: evictions))
        registry.update(answering, to: .answering)
        registry.update(body, to: .readingBody)
        registry.update(idle, to: .idle)
        #expect(registry.count == 4)

        // Each new connection takes one's place (and is answering at once here): first the one still sending its
        // head, then the idle one, then the one still sending its body; never the one answering.
        let first = try id(admit(registry, "new-1", evictions: evictions))
        registry.update(first, to: .answering)
        let second = try id(admit(registry, "new-2", evictions: evictions))
        registry.update(second, to: .answering)
        let third = try id(admit(registry, "new-3", evictions: evictions))
        registry.update(third, to: .answering)
        #expect(evictions.names == ["head", "idle", "body"])
        #expect(registry.count == 4)

        // Every connection has a request being answered: the next one is refused.
        guard case .refused = admit(registry, "new-4", evictions: evictions) else {
            Issue.record("a connection was admitted although every one is answering")
            return
        }
        registry.remove(first)
        #expect(registry.count == 3)
        _ = try id(admit(registry, "new-5", evictions: evictions))
        #expect(evictions.names == ["head", "idle", "body"])
    }
}

private struct RegistryTestFailure: Error {}

/// The names of the evicted connections, in order.
private final class Evictions: Sendable {
    private let list = Mutex<[String]>([])

    var names: [String] { list.withLock { $0 } }

    func add(_ name: String) { list.withLock { $0.append(name) } }
}
