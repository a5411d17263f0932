#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One allocation holding the encodings of a batch of images (``AMCModel/encodeImages(_:)``), each image's block
/// contiguous inside it, at one ``EncodingPrecision``.
///
/// A scoring request reads ~100 blocks scattered over the whole catalog; with the catalog in a few large
/// allocations (on Linux advised to use transparent huge pages) those reads cost far fewer TLB misses than with
/// one small heap allocation per image.
///
/// Layout: float32 and float16 hold `count` values; int8 holds `count` (a whole number of groups) signed bytes
/// followed by one float32 scale per group of ``EncodingPrecision/int8GroupSize``.
final class EncodedImageStorage: @unchecked Sendable {
    // @unchecked Sendable: the values are written only while the encoder fills them, before the storage is shared
    // (inside `encodeImages` or `EncodedImage.stored`); afterwards they are only read.

    let raw: UnsafeMutableRawPointer
    /// Stored elements (values, not bytes).
    let count: Int
    let precision: EncodingPrecision

    /// Allocations at least this large are aligned to, and advised as, huge pages.
    private static let hugePage = 2 << 20

    /// Allocates room for `count` float32 values (uninitialised): what the encoders write.
    convenience init(count: Int) {
        self.init(count: count, precision: .float32)
    }

    /// Allocates room for `count` elements of `precision` (uninitialised; for int8 a multiple of the group size).
    init(count: Int, precision: EncodingPrecision) {
        self.count = count
        self.precision = precision
        let bytes = max(precision.byteCount(storedCount: count), 1)
        var allocated: UnsafeMutableRawPointer?
        if bytes >= Self.hugePage {
            let size = (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage
            guard posix_memalign(&allocated, Self.hugePage, size) == 0, let allocated else {
                fatalError("cannot allocate \(size) bytes for image encodings")
            }
            #if os(Linux)
            // A hint: where transparent huge pages are off, the memory is still ordinary pages.
            _ = madvise(allocated, size, MADV_HUGEPAGE)
            #endif
            raw = allocated
        } else {
            guard let allocated = malloc(bytes) else {
                fatalError("cannot allocate \(bytes) bytes for image encodings")
            }
            raw = allocated
        }
    }

    deinit { free(raw) }

    /// The float32 values (float32 storage only).
    var base: UnsafeMutablePointer<Float> {
        precondition(precision == .float32, "only float32 storage holds floats")
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// The float16 values (float16 storage only): read in place by the kernels that accept them.
    var halves: UnsafePointer<Float16> {
        precondition(precision == .float16, "only float16 storage holds halves")
        return UnsafePointer(raw.bindMemory(to: Float16.self, capacity: max(count, 1)))
    }

    /// Stores `values` at element `offset` (compact precisions; `offset` a whole group for int8).
    func store(_ values: UnsafePointer<Float>, count valueCount: Int, at offset: Int) {
        switch precision {
        case .float32:
            (base + offset).update(from: values, count: valueCount)
        case .float16:
            let halves = raw.bindMemory(to: Float16.self, capacity: count) + offset
            for i in 0..<valueCount {
                halves[i] = Float16(min(max(values[i], -65504), 65504))
            }
        case .int8:
            let group = EncodingPrecision.int8GroupSize
            let bytes = raw.bindMemory(to: Int8.self, capacity: count) + offset
            let scales = (raw + count).bindMemory(to: Float.self, capacity: count / group) + offset / group
            var start = 0
            while start < valueCount {
                let end = min(start + group, valueCount)
                var largest: Float = 0
                for i in start..<end { largest = max(largest, abs(values[i])) }
                let scale = largest / 127
                scales[start / group] = scale
                for i in start..<(start + group) {
                    guard i < end, scale > 0 else {
                        bytes[i] = 0
                        continue
                    }
                    bytes[i] = Int8(min(max((values[i] / scale).rounded(), -127), 127))
                }
                start += group
            }
        }
    }

    /// Decodes `valueCount` values from element `offset` into `destination` as float32.
    func decode(at offset: Int, count valueCount: Int, into destination: UnsafeMutablePointer<Float>) {
        switch precision {
        case .float32:
            destination.update(from: base + offset, count: valueCount)
        case .float16:
            // Eight at a time with the processor's half-to-single conversion (F16C, which the model's code targets).
            let source = halves + offset
            var i = 0
            while i + 8 <= valueCount {
                Kernels.store8(Float16.load8(source + i), destination + i)
                i += 8
            }
            while i < valueCount {
                destination[i] = Float(source[i])
                i += 1
            }
        case .int8:
            let group = EncodingPrecision.int8GroupSize
            let bytes = raw.bindMemory(to: Int8.self, capacity: count) + offset
            let scales = (raw + count).bindMemory(to: Float.self, capacity: count / group) + offset / group
            var start = 0
            while start < valueCount {
                let scale = scales[start / group]
                for i in start..<min(start + group, valueCount) {
                    destination[i] = Float(bytes[i]) * scale
                }
                start += group
            }
        }
    }
}
