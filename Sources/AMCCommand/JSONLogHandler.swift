import ClickLog
import Foundation
import Logging
import Synchronization

/// A swift-log handler writing one JSON object per line to stderr (`--log-format json`), for log pipelines:
///
/// `{"timestamp":"2026-11-26T04:01:02.345Z","level":"info","logger":"amc.ingest","message":"…",
/// "source":"Ingest","metadata":{"key":"value",…}}`
///
/// Metadata keeps its structure (nested dictionaries and arrays); every value is a string, as swift-log holds it.
/// Messages and metadata are escaped per RFC 8259; a record is written with one `write(2)`, so concurrent
/// records never interleave within a line.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(label: String, logLevel: Logger.Level) {
        self.label = label
        self.logLevel = logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = "{\"timestamp\":"
        JSONStringLiteral.append(Self.timestamp(Date()), to: &line)
        line += ",\"level\":"
        JSONStringLiteral.append(event.level.rawValue, to: &line)
        line += ",\"logger\":"
        JSONStringLiteral.append(label, to: &line)
        line += ",\"message\":"
        JSONStringLiteral.append(event.message.description, to: &line)
        line += ",\"source\":"
        JSONStringLiteral.append(event.source, to: &line)
        if !merged.isEmpty {
            line += ",\"metadata\":"
            Self.append(.dictionary(merged), to: &line)
        }
        line += "}\n"
        Self.write(line)
    }

    // MARK: - Encoding

    static func append(_ value: Logger.MetadataValue, to line: inout String) {
        switch value {
        case .string(let string):
            JSONStringLiteral.append(string, to: &line)
        case .stringConvertible(let convertible):
            JSONStringLiteral.append(convertible.description, to: &line)
        case .dictionary(let dictionary):
            line += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { line += "," }
                JSONStringLiteral.append(key, to: &line)
                line += ":"
                append(dictionary[key]!, to: &line)
            }
            line += "}"
        case .array(let array):
            line += "["
            for (index, element) in array.enumerated() {
                if index > 0 { line += "," }
                append(element, to: &line)
            }
            line += "]"
        }
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)
        )
    }

    private static let lock = Mutex(())

    private static func write(_ line: String) {
        var bytes = Array(line.utf8)
        lock.withLock { _ in
            bytes.withUnsafeMutableBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Foundation.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 {
                        if written < 0 && errno == EINTR { continue }
                        return
                    }
                    offset += written
                }
            }
        }
    }
}
