import ClickLog
import Foundation
import Kafka
import Postgres

extension DeadLetterStore {
    /// Re-parses the selected pending dead letters with `parser` (the ingest code path) and lands those that are
    /// valid now exactly as ingest would have: the event at the dead letter's Kafka position, dated the same way
    /// (`ts`, else the Kafka timestamp, else when ingest received it), its pair deltas merged by ingest's own
    /// `MERGE`, every row stamped with the replay transaction's id (`change_xid`), so the learner sees them as
    /// changed since any earlier version.
    ///
    /// Exactly once: each batch is one transaction that locks its dead letters (`state = 'pending' … FOR UPDATE
    /// SKIP LOCKED`), writes the events and pairs, marks the letters resolved and records the actions; a crash
    /// leaves all of it or none. A concurrent replay skips the locked rows and, once they commit, no longer
    /// selects them (no longer pending); the `click_events` primary key on the Kafka position is the last guard,
    /// and a letter whose position already has an event is marked `duplicate` without writing anything.
    ///
    /// A letter the database refuses (SQLSTATE class 22, 23 or 54) is isolated by replaying its batch one letter
    /// per transaction; it is recorded as `rejected` and stays pending. Transient failures are retried.
    /// - Parameters:
    ///   - selection: The ids, or every pending dead letter matching a filter.
    ///   - actor: Who replayed (recorded with every action).
    ///   - parser: The parser (and limits) to validate with. Default: today's ``ClickLogParser`` defaults.
    ///   - batchSize: Dead letters per transaction.
    /// - Returns: What happened to each selected dead letter, in id order.
    public func replay(
        _ selection: DeadLetterReplaySelection,
        actor: String,
        parser: ClickLogParser = ClickLogParser(),
        batchSize: Int = 1000
    ) throws -> DeadLetterReplayReport {
        precondition(batchSize >= 1, "batchSize must be positive")
        try events.prepare(connection)
        var report = DeadLetterReplayReport()
        var cursor: Int64 = 0
        while try step(selection, limit: batchSize, cursor: &cursor, actor: actor, parser: parser, into: &report) {}
        if case .ids(let ids) = selection {
            report.results += try unresolved(Set(ids), excluding: Set(report.results.map(\.id)))
        }
        report.results.sort { $0.id < $1.id }
        return report
    }

    // MARK: - Batches

    /// Replays the next `limit` pending letters after `cursor` in one transaction, isolating a letter the
    /// database refuses. Returns false when there was nothing left.
    private func step(
        _ selection: DeadLetterReplaySelection,
        limit: Int,
        cursor: inout Int64,
        actor: String,
        parser: ClickLogParser,
        into report: inout DeadLetterReplayReport
    ) throws -> Bool {
        var attempted: [Int64] = []
        let batch: ReplayBatch
        do {
            let after = cursor
            batch = try retryingTransient {
                try replayBatch(selection, after: after, limit: limit, actor: actor, parser: parser, locked: &attempted)
            }
        } catch let error as PostgresError where error.isDataError {
            guard limit > 1 else {
                guard let id = attempted.first else { throw error }
                let rejection = try retryingTransient { try recordRejection(id, error, actor: actor) }
                report.absorb(rejection)
                cursor = id
                return true
            }
            // Isolate the refused letter: the same letters again, one per transaction.
            guard let end = attempted.last else { throw error }
            while cursor < end,
                try step(selection, limit: 1, cursor: &cursor, actor: actor, parser: parser, into: &report)
            {}
            return true
        }
        guard let last = batch.lastID else { return false }
        report.absorb(batch)
        cursor = last
        return true
    }

    /// One transaction: lock, parse, land the valid events and their pairs, resolve, record.
    private func replayBatch(
        _ selection: DeadLetterReplaySelection,
        after cursor: Int64,
        limit: Int,
        actor: String,
        parser: ClickLogParser,
        locked: inout [Int64]
    ) throws -> ReplayBatch {
        try connection.transaction { connection in
            let letters = try lockPending(selection, after: cursor, limit: limit, connection)
            locked = letters.map(\.id)
            guard let last = letters.last else { return ReplayBatch() }
            var batch = ReplayBatch(lastID: last.id)
            var valid: [(letter: LockedLetter, event: PositionedEvent)] = []
            var actions: [ReplayAction] = []
            for letter in letters {
                switch parser.parse(letter.record, receivedAtMicros: letter.receivedAtMicros) {
                case .event(let positioned):
                    valid.append((letter, positioned))
                case .invalid(let refusal):
                    actions.append(
                        ReplayAction(
                            letter: letter,
                            outcome: .stillInvalid,
                            reasonCode: refusal.reasonCode,
                            detail: refusal.reason
                        )
                    )
                }
            }
            let stored = try events.storedPositions(valid.map(\.letter.position), in: .events, connection)
            var landing: [PositionedEvent] = []
            var pairs = PairAggregator()
            for (letter, positioned) in valid {
                if stored.contains(letter.position) {
                    actions.append(
                        ReplayAction(
                            letter: letter,
                            outcome: .duplicate,
                            detail: "an event at this Kafka position is already in click_events; nothing added"
                        )
                    )
                    continue
                }
                landing.append(positioned)
                pairs.add(positioned.event, at: positioned.timeMicros)
                let event = positioned.event
                actions.append(
                    ReplayAction(
                        letter: letter,
                        outcome: .replayed,
                        detail: "landed as an event: \(event.clicks) click(s) on \(event.image) for \"\(event.query)\""
                            + (event.skippedAbove.isEmpty ? "" : ", \(event.skippedAbove.count) skip(s) above")
                    )
                )
            }
            try events.write(landing, pairs: pairs, connection)
            try resolve(actions, connection)
            try record(actions, actor: actor, connection)
            batch.events = landing.count
            batch.pairDeltas = pairs.deltas.count
            batch.results = actions.map(\.result)
            return batch
        }
    }

    /// Records that the database refused letter `id`'s event (it stays pending), unless it is no longer
    /// pending or another replay holds it.
    private func recordRejection(_ id: Int64, _ refusal: PostgresError, actor: String) throws -> ReplayBatch {
        try connection.transaction { connection in
            let letters = try lockPending(.ids([id]), after: id - 1, limit: 1, connection)
            guard let letter = letters.first else { return ReplayBatch(lastID: id) }
            let action = ReplayAction(
                letter: letter,
                outcome: .rejected,
                detail: "valid, but the database refused it: \(refusal)"
            )
            try record([action], actor: actor, connection)
            return ReplayBatch(results: [action.result], lastID: id)
        }
    }

    /// Locks up to `limit` pending dead letters after `cursor` in id order, skipping those another transaction
    /// holds.
    private func lockPending(
        _ selection: DeadLetterReplaySelection,
        after cursor: Int64,
        limit: Int,
        _ connection: PostgresConnection
    ) throws -> [LockedLetter] {
        var ids: String?
        var filter = DeadLetterFilter()
        switch selection {
        case .ids(let list): ids = EventStore.arrayLiteral(list)
        case .pending(let given): filter = given
        }
        return try connection.query(
            """
            SELECT id, topic, partition, "offset", message_key, raw,
                   (extract(epoch FROM message_timestamp) * 1000)::bigint,
                   (extract(epoch FROM created_at) * 1000000)::bigint
            FROM dead_letters
            WHERE state = 'pending' AND id > \(cursor)
              AND (\(ids)::bigint[] IS NULL OR id = ANY(\(ids)::bigint[]))
              AND (\(filter.reasonCode)::text IS NULL OR reason_code = \(filter.reasonCode))
              AND (\(filter.topic)::text IS NULL OR topic = \(filter.topic))
            ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED
            """
        ).map { row in
            LockedLetter(
                id: try row.decode(Int64.self, column: 0),
                record: ConsumerRecord(
                    topic: try row.decode(String.self, column: 1),
                    partition: try row.decode(Int32.self, column: 2),
                    offset: try row.decode(Int64.self, column: 3),
                    key: try row.decode([UInt8]?.self, column: 4),
                    value: try row.decode([UInt8].self, column: 5),
                    timestampMilliseconds: try row.decode(Int64?.self, column: 6)
                ),
                receivedAtMicros: try row.decode(Int64.self, column: 7)
            )
        }
    }

    /// Marks replayed and duplicate letters resolved.
    private func resolve(_ actions: [ReplayAction], _ connection: PostgresConnection) throws {
        for state in [DeadLetterState.replayed, .duplicate] {
            let ids = actions.filter { $0.result.state == state }.map(\.letter.id)
            guard !ids.isEmpty else { continue }
            try connection.execute(
                """
                UPDATE dead_letters SET state = \(state.rawValue), resolved_at = now()
                WHERE id = ANY(\(EventStore.arrayLiteral(ids))::bigint[])
                """
            )
        }
    }

    /// Appends the actions to `dead_letter_actions`.
    private func record(_ actions: [ReplayAction], actor: String, _ connection: PostgresConnection) throws {
        guard !actions.isEmpty else { return }
        _ = try connection.copyIn(
            """
            COPY dead_letter_actions (dead_letter_id, topic, partition, "offset", action, outcome, reason_code,
                                      detail, actor) FROM STDIN
            """
        ) { writer in
            for action in actions.sorted(by: { $0.letter.id < $1.letter.id }) {
                writer.append(action.letter.id)
                writer.append(action.letter.record.topic)
                writer.append(action.letter.record.partition)
                writer.append(action.letter.record.offset)
                writer.append("replay")
                writer.append(action.result.outcome.rawValue)
                writer.append(action.result.reasonCode)
                writer.append(action.result.detail)
                writer.append(actor)
                writer.endRow()
            }
        }
    }

    /// Results for requested ids the replay did not act on: unknown, already resolved, or held by another replay.
    private func unresolved(_ requested: Set<Int64>, excluding done: Set<Int64>) throws -> [DeadLetterReplayResult] {
        let missing = requested.subtracting(done).sorted()
        guard !missing.isEmpty else { return [] }
        var states: [Int64: DeadLetterState] = [:]
        for row in try connection.query(
            "SELECT id, state FROM dead_letters WHERE id = ANY(\(EventStore.arrayLiteral(missing))::bigint[])"
        ) {
            states[try row.decode(Int64.self, column: 0)] = DeadLetterState(
                rawValue: try row.decode(String.self, column: 1)
            )
        }
        return missing.map { id in
            switch states[id] {
            case nil:
                DeadLetterReplayResult(id: id, outcome: .notFound, detail: "no such dead letter (or it was purged)")
            case .pending?:
                DeadLetterReplayResult(
                    id: id,
                    outcome: .busy,
                    state: .pending,
                    detail: "another replay holds it right now"
                )
            case let state?:
                DeadLetterReplayResult(
                    id: id,
                    outcome: .alreadyResolved,
                    state: state,
                    detail: "already \(state); nothing to do"
                )
            }
        }
    }

    /// Runs `body` again after a transient failure (a concurrent first insert of a pair, a deadlock, a
    /// serialization failure), up to five times, while the connection is still up.
    private func retryingTransient<T>(_ body: () throws -> T) throws -> T {
        var attempt = 1
        var delay = 0.05
        while true {
            do {
                return try body()
            } catch let error as PostgresError where error.isTransient && attempt < 6 && connection.isConnected {
                Thread.sleep(forTimeInterval: delay)
                delay *= 2
                attempt += 1
            }
        }
    }
}

// MARK: - Replay internals

/// A pending dead letter locked by a replay transaction, as the Kafka record it was.
private struct LockedLetter {
    var id: Int64
    var record: ConsumerRecord
    /// When ingest received it (`created_at`), microseconds since the epoch: the last resort for its event time.
    var receivedAtMicros: Int64

    var position: EventPosition { EventPosition(record) }
}

/// One recorded replay action.
private struct ReplayAction {
    var letter: LockedLetter
    var result: DeadLetterReplayResult

    init(letter: LockedLetter, outcome: DeadLetterReplayOutcome, reasonCode: String? = nil, detail: String) {
        self.letter = letter
        let state: DeadLetterState =
            switch outcome {
            case .replayed: .replayed
            case .duplicate: .duplicate
            default: .pending
            }
        result = DeadLetterReplayResult(
            id: letter.id,
            outcome: outcome,
            state: state,
            reasonCode: reasonCode,
            detail: detail
        )
    }
}

/// What one replay transaction did.
private struct ReplayBatch {
    var results: [DeadLetterReplayResult] = []
    /// The last dead letter it locked; nil when none was left.
    var lastID: Int64?
    var events = 0
    var pairDeltas = 0
}

extension DeadLetterReplayReport {
    fileprivate mutating func absorb(_ batch: ReplayBatch) {
        results += batch.results
        events += batch.events
        pairDeltas += batch.pairDeltas
        transactions += 1
    }
}
