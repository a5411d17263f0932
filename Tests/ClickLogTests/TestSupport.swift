import Testing

@testable import ClickLog

extension Result {
    /// The error of a `.failure`, nil for a `.success`.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }

    /// The value of a `.success`, nil for a `.failure`.
    var success: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}

/// Swift's `String ==` compares by canonical equivalence, so "é" == "e\u{301}". Normalised text is used as a
/// Kafka key and a database key, where the bytes matter: compare the UTF-8 bytes exactly.
func expectSameBytes(
    _ actual: String,
    _ expected: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        Array(actual.utf8) == Array(expected.utf8),
        "\(actual.debugDescription) is not byte-identical to \(expected.debugDescription)",
        sourceLocation: sourceLocation
    )
}
