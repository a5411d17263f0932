/// A batch of images that ``CatalogStore`` refuses to write, or stored data it cannot read.
///
/// Codes: `dimension_mismatch` (the images' D differs from each other or from the stored catalog's),
/// `invalid_image` (an empty key, R < 0, D < 1, or `regions.count ≠ R·D`), `corrupt_row` (a stored row does not
/// decode). The message names the image key, never other data.
public struct CatalogStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable reason code.
    public var code: String
    /// What is wrong, for people.
    public var message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: The reason code.
    ///   - message: The explanation.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
