import Model
import Synchronization

/// Full parameters this process has verified for an activation (every blob of the chain hashed against its
/// checksum, decoded, its architecture's names and shapes checked, every value finite), by the hex SHA-256 of the
/// version's blob.
///
/// Versions are immutable and a blob's SHA-256 names its content, so a fine-tune whose parent is here is checked
/// against these parameters instead of re-reading and re-hashing the parent's blob: activating a run of fine-tunes
/// of one parent (the learner's online cycles) reads and hashes only each fine-tune's own part. Holds the last
/// ``capacity`` verified versions.
final class VerifiedParameters: Sendable {
    /// The process's cache.
    static let shared = VerifiedParameters()

    /// Versions kept: an active version and its parent, with room for a rollback target.
    let capacity: Int

    /// Most recently used last.
    private let entries = Mutex<[(sha256: String, parameters: ModelParameters)]>([])

    init(capacity: Int = 4) {
        self.capacity = capacity
    }

    /// The verified parameters of the blob with this checksum, or nil.
    func parameters(_ sha256: String) -> ModelParameters? {
        entries.withLock { entries in
            guard let index = entries.firstIndex(where: { $0.sha256 == sha256 }) else { return nil }
            let entry = entries.remove(at: index)
            entries.append(entry)
            return entry.parameters
        }
    }

    /// Records `parameters` as verified for the blob with this checksum.
    func insert(_ sha256: String, _ parameters: ModelParameters) {
        entries.withLock { entries in
            entries.removeAll { $0.sha256 == sha256 }
            entries.append((sha256, parameters))
            if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        }
    }
}
