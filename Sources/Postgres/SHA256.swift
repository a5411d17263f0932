import Crypto

/// SHA-256 (FIPS 180-4), for migration checksums and content hashes such as a model version's weights.
///
/// Backed by swift-crypto (BoringSSL on Linux, with the processor's SHA extensions where present): hashing a
/// model's weights runs on the scoring worker's swap path, so it must cost a millisecond, not tens.
public enum SHA256 {
    /// The 32-byte digest.
    /// - Parameter bytes: The message.
    /// - Returns: The digest.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// The 32-byte digest.
    /// - Parameter bytes: The message.
    /// - Returns: The digest.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The hex SHA-256 of `bytes`: 64 lowercase hex digits, exactly what `sha256sum` prints for the same bytes.
    ///
    /// Pass the message itself, never a digest: the result is the digest of whatever it is given.
    /// - Parameter bytes: The message.
    /// - Returns: The hex digest, e.g. `ba7816bf…` for `"abc"`.
    public static func hexDigest(of bytes: [UInt8]) -> String {
        hexString(hash(bytes))
    }

    /// The hex SHA-256 of the UTF-8 bytes of `string`.
    /// - Parameter string: The message.
    /// - Returns: The hex digest.
    public static func hexDigest(of string: String) -> String {
        hexDigest(of: Array(string.utf8))
    }

    static func hexString(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Incremental hashing, for data that arrives in pieces.
    public struct Hasher: Sendable {
        private var state = Crypto.SHA256()

        /// Creates a hasher.
        public init() {}

        /// Feeds more bytes.
        /// - Parameter bytes: The next part of the message.
        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            state.update(bufferPointer: bytes)
        }

        /// Feeds more bytes.
        /// - Parameter bytes: The next part of the message.
        public mutating func update(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { update($0) }
        }

        /// Finishes and returns the 32-byte digest.
        /// - Returns: The digest.
        public mutating func finalize() -> [UInt8] {
            Array(state.finalize())
        }
    }
}
