#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One allocation holding the encodings of a batch of images (``AMCModel/encodeImages(_:)``), each image's block
/// contiguous inside it.
///
/// A scoring request reads ~100 blocks scattered over the whole catalog; with the catalog in a few large
/// allocations (on Linux advised to use transparent huge pages) those reads cost far fewer TLB misses than with
/// one small heap allocation per image.
final class EncodedImageStorage: @unchecked Sendable {
    // @unchecked Sendable: the floats are written only while the encoder fills them, before the storage is shared
    // (inside `encodeImages`); afterwards they are only read.

    let base: UnsafeMutablePointer<Float>
    let count: Int

    /// Allocations at least this large are aligned to, and advised as, huge pages.
    private static let hugePage = 2 << 20

    /// Allocates room for `count` floats (uninitialised).
    init(count: Int) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        var raw: UnsafeMutableRawPointer?
        if bytes >= Self.hugePage {
            let size = (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage
            guard posix_memalign(&raw, Self.hugePage, size) == 0, let raw else {
                fatalError("cannot allocate \(size) bytes for image encodings")
            }
            #if os(Linux)
            // A hint: where transparent huge pages are off, the memory is still ordinary pages.
            _ = madvise(raw, size, MADV_HUGEPAGE)
            #endif
            base = raw.bindMemory(to: Float.self, capacity: count)
        } else {
            guard let allocated = malloc(bytes) else {
                fatalError("cannot allocate \(bytes) bytes for image encodings")
            }
            base = allocated.bindMemory(to: Float.self, capacity: max(count, 1))
        }
    }

    deinit { free(base) }
}
