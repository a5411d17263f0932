import Crypto

/// The checksum of a stored weights blob: the hex SHA-256 of its bytes, exactly what `sha256sum` prints for the
/// file `amc model export` writes.
public enum BlobChecksum {
    /// The hex SHA-256 of `blob` (64 lowercase hex digits).
    /// - Parameter blob: The blob's bytes.
    public static func hexDigest(of blob: [UInt8]) -> String {
        ModelBlob.hex(Array(SHA256.hash(data: blob)))
    }

    /// Whether `stored` is `blob`'s checksum: the hex SHA-256 of the blob, or the form stored before migration
    /// 0006 (the hex SHA-256 of that hex text), which commits to the same bytes.
    /// - Parameters:
    ///   - blob: The blob's bytes.
    ///   - stored: The checksum stored with it.
    /// - Returns: Whether it matches, and the blob's hex SHA-256.
    public static func verify(_ blob: [UInt8], against stored: String) -> (matches: Bool, computed: String) {
        let computed = hexDigest(of: blob)
        let matches = computed == stored || hexDigest(of: Array(computed.utf8)) == stored
        return (matches, computed)
    }
}
