import Foundation

/// Runs blocking work (libpq, librdkafka, file I/O) on a thread of its own, off Swift's cooperative pool, and
/// resumes with its result.
public func onBlockingThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}
