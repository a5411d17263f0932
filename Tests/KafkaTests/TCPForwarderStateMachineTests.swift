import Testing

@testable import Kafka

/// ``TCPForwarder/StateMachine`` without sockets or threads.
@Suite struct TCPForwarderStateMachineTests {
    @Test func stopHandsOutLiveSocketsOnceAndRejectsLaterConnections() {
        var machine = TCPForwarder.StateMachine()
        #expect(machine.register(client: 10, upstream: 11) == .registered(1))
        #expect(machine.register(client: 12, upstream: 13) == .registered(2))
        #expect(machine.register(client: 14, upstream: 15) == .registered(3))
        machine.unregister(2)

        #expect(machine.stop() == .shutdown([10, 11, 14, 15]))
        #expect(machine.stop() == StopAction.none)
        #expect(machine.register(client: 16, upstream: 17) == .rejected)
        machine.unregister(1)  // A pump thread finishing after stop(): no-op.
        #expect(machine.stop() == StopAction.none)
    }

    typealias StopAction = TCPForwarder.StateMachine.StopAction
}
