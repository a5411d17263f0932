import Foundation
import Learning
import Registry

/// How `amc` prints records for people (aligned tables) and machines (JSON); the registry's records themselves
/// are added where the commands that print them live.
public enum RegistryOutput {
    /// `value` as one line of JSON: snake_case keys, ISO 8601 dates, sorted keys, non-finite numbers as strings.
    public static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity",
            negativeInfinity: "-Infinity",
            nan: "NaN"
        )
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The activation log as a table; actors and reasons (free text from the command line) are escaped so they
    /// print on one line and cannot drive the terminal.
    public static func activationsTable(_ activations: [ModelActivation]) -> String {
        var rows = [["#", "activated", "version", "previous", "actor", "reason"]]
        for a in activations {
            rows.append([
                "\(a.id)", format(a.activatedAt), "\(a.version)", a.previousVersion.map { "\($0)" } ?? "-",
                TerminalText.escaped(a.actor), TerminalText.escaped(a.reason),
            ])
        }
        return align(rows) + (activations.isEmpty ? "\n(no activations yet)" : "")
    }

    /// A timestamp as `amc` prints it (ISO 8601, UTC).
    public static func format(_ date: Date) -> String {
        date.ISO8601Format()
    }

    /// Left-aligned columns separated by two spaces.
    public static func align(_ rows: [[String]]) -> String {
        guard let width = rows.first?.count else { return "" }
        let widths = (0..<width).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == width - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
