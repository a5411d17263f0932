/// Why one catalog line was refused: a stable machine-readable ``code`` and a human ``message``.
///
/// Codes (see `Docs/catalog.md`):
/// - `invalid_json`: not valid JSON (or not UTF-8, or a known field repeated).
/// - `wrong_type`: the line or a field has the wrong JSON type (for example `"image": 5`).
/// - `missing_field`: `image`, `keywords`, or a region form (`regions`, or `regions_b64` with `shape`) is missing.
/// - `empty_key`: `image` is the empty string.
/// - `invalid_key`: `image` contains whitespace or control characters (it could never match a click).
/// - `invalid_keyword`: a keyword contains control characters.
/// - `bad_base64`: `regions_b64` is not standard base64.
/// - `shape_mismatch`: ragged `regions` rows, no rows or an empty row, `shape` not two positive integers, the
///   decoded `regions_b64` length not `R·D·4`, or `shape` given beside `regions` but disagreeing with it.
/// - `non_finite`: a region value is NaN or ±infinity (or overflows float32); the message names the cell.
/// - `dimension_mismatch`: D differs from the catalog's D.
/// - `both_region_forms`: both `regions` and `regions_b64` are given.
/// - `too_large`: beyond a limit of ``CatalogParser`` (line bytes, cells, keywords, key or keyword bytes).
///
/// The message may quote a short excerpt of the line's own text (a field name, a bad value); it never holds
/// credentials.
public struct CatalogLineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable reason code, for example `shape_mismatch`.
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

    static func invalidJSON(_ message: String) -> Self { Self(code: "invalid_json", message: message) }
    static func wrongType(_ message: String) -> Self { Self(code: "wrong_type", message: message) }
    static func missingField(_ message: String) -> Self { Self(code: "missing_field", message: message) }
    static func emptyKey(_ message: String) -> Self { Self(code: "empty_key", message: message) }
    static func invalidKey(_ message: String) -> Self { Self(code: "invalid_key", message: message) }
    static func invalidKeyword(_ message: String) -> Self { Self(code: "invalid_keyword", message: message) }
    static func badBase64(_ message: String) -> Self { Self(code: "bad_base64", message: message) }
    static func shapeMismatch(_ message: String) -> Self { Self(code: "shape_mismatch", message: message) }
    static func nonFinite(_ message: String) -> Self { Self(code: "non_finite", message: message) }
    static func dimensionMismatch(_ message: String) -> Self { Self(code: "dimension_mismatch", message: message) }
    static func bothRegionForms(_ message: String) -> Self { Self(code: "both_region_forms", message: message) }
    static func tooLarge(_ message: String) -> Self { Self(code: "too_large", message: message) }
}
