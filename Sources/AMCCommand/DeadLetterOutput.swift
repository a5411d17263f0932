import ArgumentParser
import ClickLog
import CommandSupport
import Foundation
import Ingest

/// How `amc deadletters` prints: aligned tables and blocks for people (message bytes always escaped, so a dead
/// letter can never drive the terminal), JSON for machines.
enum DeadLetterOutput {
    // MARK: - Arguments

    /// A `--state` value: a state, or nil for `all`.
    static func state(_ text: String) throws -> DeadLetterState? {
        switch text {
        case "all": return nil
        case "pending", "replayed", "duplicate": return DeadLetterState(rawValue: text)
        default: throw ValidationError("--state must be pending, replayed, duplicate or all")
        }
    }

    /// A `--before` value: an RFC 3339 time, or an age (`90m`, `12h`, `30d`, `2w`) counted back from `now`.
    static func cutoff(_ text: String, now: Date) throws -> Date {
        if let micros = RFC3339.parseMicros(text) {
            return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
        }
        if let age = DurationArgument.seconds(text) { return now.addingTimeInterval(-age) }
        throw ValidationError("--before must be an RFC 3339 time (2026-01-31T00:00:00Z) or an age such as 30d")
    }

    // MARK: - list

    /// A dead letter in `amc deadletters list --json`.
    struct Summary: Encodable {
        var id: Int64
        var topic: String
        var partition: Int32
        var offset: Int64
        var receivedAt: Date
        var reasonCode: String
        var reason: String
        var state: String
        var resolvedAt: Date?
        var size: Int

        init(_ letter: DeadLetterSummary) {
            id = letter.id
            topic = letter.topic
            partition = letter.partition
            offset = letter.offset
            receivedAt = letter.receivedAt
            reasonCode = letter.reasonCode
            reason = letter.reason
            state = letter.state.rawValue
            resolvedAt = letter.resolvedAt
            size = letter.size
        }

        private enum CodingKeys: String, CodingKey {
            case id, topic, partition, offset, receivedAt, reasonCode, reason, state, resolvedAt, size
        }

        /// Like the synthesized encoding, but `resolved_at` is always present (`null` while pending).
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(topic, forKey: .topic)
            try c.encode(partition, forKey: .partition)
            try c.encode(offset, forKey: .offset)
            try c.encode(receivedAt, forKey: .receivedAt)
            try c.encode(reasonCode, forKey: .reasonCode)
            try c.encode(reason, forKey: .reason)
            try c.encode(state, forKey: .state)
            try c.encode(resolvedAt, forKey: .resolvedAt)
            try c.encode(size, forKey: .size)
        }
    }

    static func table(_ letters: [DeadLetterSummary], total: Int, filter: DeadLetterFilter) -> String {
        let which = filter.state.map { "\($0) " } ?? ""
        guard !letters.isEmpty else { return "(no \(which)dead letters)" }
        var rows = [["id", "topic", "partition", "offset", "received", "reason", "state"]]
        for letter in letters {
            rows.append([
                "\(letter.id)", TerminalText.escaped(letter.topic, limit: 40), "\(letter.partition)",
                "\(letter.offset)",
                RegistryOutput.format(letter.receivedAt), TerminalText.escaped(letter.reason, limit: 72),
                letter.state.rawValue,
            ])
        }
        let more = total > letters.count ? " (raise --limit for more)" : ""
        return RegistryOutput.align(rows) + "\n\(letters.count) of \(total) \(which)dead letter(s)\(more)"
    }

    // MARK: - show

    /// One dead letter in `amc deadletters show`: the row (nil once purged) and its actions.
    struct Detail: Encodable {
        var id: Int64
        var letter: DeadLetterDetail?
        var actions: [DeadLetterAction]

        init(id: Int64, detail: DeadLetterDetail?, actions: [DeadLetterAction]) {
            self.id = id
            letter = detail
            self.actions = actions
        }

        var state: String { letter?.summary.state.rawValue ?? DeadLetterState.purged.rawValue }

        private enum CodingKeys: String, CodingKey {
            case id, topic, partition, offset, receivedAt, reasonCode, reason, state, resolvedAt, size
            case messageTimestamp, keyText, keyBase64, rawText, rawBase64, rawHex, actions
        }

        /// Every key is always present; `raw_text` is null when the bytes are not UTF-8, and the row's fields are
        /// null once it was purged (`state` is then `purged`; the position comes from its actions).
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            let s = letter?.summary
            try c.encode(id, forKey: .id)
            try c.encode(s?.topic ?? actions.first?.topic, forKey: .topic)
            try c.encode(s?.partition ?? actions.first?.partition, forKey: .partition)
            try c.encode(s?.offset ?? actions.first?.offset, forKey: .offset)
            try c.encode(s?.receivedAt, forKey: .receivedAt)
            try c.encode(s?.reasonCode, forKey: .reasonCode)
            try c.encode(s?.reason, forKey: .reason)
            try c.encode(state, forKey: .state)
            try c.encode(s?.resolvedAt, forKey: .resolvedAt)
            try c.encode(s?.size, forKey: .size)
            try c.encode(letter?.messageTimestamp, forKey: .messageTimestamp)
            try c.encode(letter?.key.flatMap { String(validating: $0, as: UTF8.self) }, forKey: .keyText)
            try c.encode(letter?.key.map { Data($0).base64EncodedString() }, forKey: .keyBase64)
            try c.encode(letter.flatMap { String(validating: $0.raw, as: UTF8.self) }, forKey: .rawText)
            try c.encode(letter.map { Data($0.raw).base64EncodedString() }, forKey: .rawBase64)
            try c.encode(letter.map { hex($0.raw) }, forKey: .rawHex)
            try c.encode(actions.map(Action.init), forKey: .actions)
        }
    }

    /// An action in JSON.
    struct Action: Encodable {
        var id: Int64
        var action: String
        var outcome: String
        var reasonCode: String?
        var detail: String
        var actor: String
        var at: Date

        init(_ action: DeadLetterAction) {
            id = action.id
            self.action = action.action
            outcome = action.outcome
            reasonCode = action.reasonCode
            detail = action.detail
            actor = action.actor
            at = action.at
        }

        private enum CodingKeys: String, CodingKey {
            case id, action, outcome, reasonCode, detail, actor, at
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(action, forKey: .action)
            try c.encode(outcome, forKey: .outcome)
            try c.encode(reasonCode, forKey: .reasonCode)
            try c.encode(detail, forKey: .detail)
            try c.encode(actor, forKey: .actor)
            try c.encode(at, forKey: .at)
        }
    }

    /// Most message bytes `show` prints as text (as hex: a quarter of it); `--json` always has them all.
    static let shownBytes = 16_384

    static func text(_ d: Detail) -> String {
        var lines: [String] = []
        if let letter = d.letter {
            let s = letter.summary
            lines.append("dead letter \(d.id): \(s.state)")
            lines.append(
                "  position    \(TerminalText.escaped(s.topic))/\(s.partition)/\(s.offset) (topic/partition/offset)"
            )
            lines.append("  received    \(RegistryOutput.format(s.receivedAt))")
            lines.append("  kafka time  \(letter.messageTimestamp.map(RegistryOutput.format) ?? "not recorded")")
            lines.append("  reason      \(TerminalText.escaped(s.reason))")
            if let resolved = s.resolvedAt {
                lines.append("  resolved    \(RegistryOutput.format(resolved))")
            }
            lines.append("  key         " + (letter.key.map { bytes($0, indent: 14) } ?? "none"))
            lines.append("  raw         " + bytes(letter.raw, indent: 14))
        } else if let first = d.actions.first {
            lines.append("dead letter \(d.id): purged (only its actions remain)")
            lines.append(
                "  position    \(TerminalText.escaped(first.topic))/\(first.partition)/\(first.offset) (topic/partition/offset)"
            )
        }
        guard !d.actions.isEmpty else {
            lines.append("  actions     none yet")
            return lines.joined(separator: "\n")
        }
        lines.append("  actions")
        var rows = [["#", "at", "action", "outcome", "actor", "detail"]]
        for a in d.actions {
            rows.append([
                "\(a.id)", RegistryOutput.format(a.at), a.action, a.outcome, TerminalText.escaped(a.actor),
                TerminalText.escaped(a.detail),
            ])
        }
        lines.append(RegistryOutput.align(rows).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        return lines.joined(separator: "\n")
    }

    /// Message bytes for a terminal: escaped text when they are UTF-8, else a hex dump; long ones cut.
    static func bytes(_ raw: [UInt8], indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        if let text = String(validating: raw, as: UTF8.self) {
            let cut = raw.count > shownBytes ? String(decoding: raw.prefix(shownBytes), as: UTF8.self) : text
            let more =
                raw.count > shownBytes ? "\n\(pad)… \(raw.count - shownBytes) more byte(s); --json has them all" : ""
            return
                "\(raw.count) byte(s), UTF-8 (control characters escaped):\n\(pad)\"\(TerminalText.escaped(cut))\"\(more)"
        }
        let limit = shownBytes / 4
        var lines = ["\(raw.count) byte(s), not valid UTF-8 (hex):"]
        for start in stride(from: 0, to: min(raw.count, limit), by: 16) {
            let chunk = raw[start..<min(start + 16, raw.count)]
            let hexPart = chunk.map { String(format: "%02x", $0) }.joined(separator: " ")
            let ascii = String(chunk.map { (0x20..<0x7F).contains($0) ? Character(UnicodeScalar($0)) : "." })
            lines.append(
                pad + String(format: "%08x  ", start) + hexPart.padding(toLength: 48, withPad: " ", startingAt: 0)
                    + " |\(ascii)|"
            )
        }
        if raw.count > limit { lines.append("\(pad)… \(raw.count - limit) more byte(s); --json has them all") }
        return lines.joined(separator: "\n")
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    // MARK: - replay

    /// `amc deadletters replay --json`.
    struct ReplaySummary: Encodable {
        var replayed: Int
        var stillInvalid: Int
        var duplicate: Int
        var rejected: Int
        var alreadyResolved: Int
        var busy: Int
        var notFound: Int
        var events: Int
        var pairDeltas: Int
        var transactions: Int
        var results: [Result]

        struct Result: Encodable {
            var id: Int64
            var outcome: String
            var state: String?
            var reasonCode: String?
            var detail: String

            private enum CodingKeys: String, CodingKey { case id, outcome, state, reasonCode, detail }

            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(id, forKey: .id)
                try c.encode(outcome, forKey: .outcome)
                try c.encode(state, forKey: .state)
                try c.encode(reasonCode, forKey: .reasonCode)
                try c.encode(detail, forKey: .detail)
            }
        }

        init(_ report: DeadLetterReplayReport) {
            replayed = report.count(.replayed)
            stillInvalid = report.count(.stillInvalid)
            duplicate = report.count(.duplicate)
            rejected = report.count(.rejected)
            alreadyResolved = report.count(.alreadyResolved)
            busy = report.count(.busy)
            notFound = report.count(.notFound)
            events = report.events
            pairDeltas = report.pairDeltas
            transactions = report.transactions
            results = report.results.map {
                Result(
                    id: $0.id,
                    outcome: $0.outcome.rawValue,
                    state: $0.state?.rawValue,
                    reasonCode: $0.reasonCode,
                    detail: $0.detail
                )
            }
        }
    }

    /// Most result lines `replay` prints; `--json` has them all.
    static let shownResults = 100

    static func text(_ report: DeadLetterReplayReport) -> String {
        guard !report.results.isEmpty else { return "nothing to replay: no pending dead letter matched" }
        let counts = [
            DeadLetterReplayOutcome.replayed, .stillInvalid, .duplicate, .rejected, .alreadyResolved, .busy, .notFound,
        ].compactMap { outcome in
            let n = report.count(outcome)
            return n == 0 ? nil : "\(n) \(outcome.rawValue.replacingOccurrences(of: "_", with: " "))"
        }
        var lines = [
            "replayed \(report.count(.replayed)) of \(report.results.count) dead letter(s): "
                + counts.joined(separator: ", ")
                + "; \(report.events) event(s) and \(report.pairDeltas) pair delta(s) landed in "
                + "\(report.transactions) transaction(s)"
        ]
        var rows = [["id", "outcome", "state", "detail"]]
        for result in report.results.prefix(shownResults) {
            rows.append([
                "\(result.id)", result.outcome.rawValue, result.state?.rawValue ?? "-",
                TerminalText.escaped(result.detail, limit: 100),
            ])
        }
        lines.append(RegistryOutput.align(rows))
        if report.results.count > shownResults {
            lines.append("… \(report.results.count - shownResults) more (--json has them all)")
        }
        return lines.joined(separator: "\n")
    }

    // MARK: - purge

    /// `amc deadletters purge --json`.
    struct PurgeSummary: Encodable {
        var dryRun: Bool
        var before: Date
        var includePending: Bool
        var deleted: Int
        var byState: [String: Int]
        var oldest: Date?
        var newest: Date?

        init(_ summary: DeadLetterPurgeSummary, before: Date, includePending: Bool, dryRun: Bool) {
            self.dryRun = dryRun
            self.before = before
            self.includePending = includePending
            deleted = summary.total
            byState = Dictionary(uniqueKeysWithValues: summary.byState.map { ($0.key.rawValue, $0.value) })
            oldest = summary.oldest
            newest = summary.newest
        }

        private enum CodingKeys: String, CodingKey {
            case dryRun, before, includePending, deleted, byState, oldest, newest
        }

        /// `deleted` is what was (or, in a dry run, would be) deleted; every key is always present.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(dryRun, forKey: .dryRun)
            try c.encode(before, forKey: .before)
            try c.encode(includePending, forKey: .includePending)
            try c.encode(deleted, forKey: .deleted)
            try c.encode(byState, forKey: .byState)
            try c.encode(oldest, forKey: .oldest)
            try c.encode(newest, forKey: .newest)
        }
    }

    static func text(_ p: PurgeSummary) -> String {
        let which = p.includePending ? "" : " resolved"
        let states = p.byState.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let breakdown = p.deleted == 0 ? "" : " (\(states))"
        let cutoff = RegistryOutput.format(p.before)
        var lines = [
            p.dryRun
                ? "would delete \(p.deleted)\(which) dead letter(s) received before \(cutoff)\(breakdown)"
                : "deleted \(p.deleted)\(which) dead letter(s) received before \(cutoff)\(breakdown); "
                    + "each recorded in dead_letter_actions"
        ]
        if !p.includePending { lines.append("pending dead letters are kept (--include-pending deletes them too)") }
        if p.dryRun && p.deleted > 0 { lines.append("nothing was deleted: run again with --yes to delete") }
        return lines.joined(separator: "\n")
    }
}
