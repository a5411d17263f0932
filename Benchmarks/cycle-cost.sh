#!/usr/bin/env bash
# The learner cycle cost figures of Docs/benchmarks.md ("Learner cycle cost against the table's size"): one
# fine-tuning cycle over the same window with 10⁵, 10⁶ and 10⁷ relevance pairs in the table.
#
#   AMC_ADMIN_URL=postgresql://postgres@localhost:5432 bash Benchmarks/cycle-cost.sh
#
# A simulated world (1000 images, 400 queries) is bootstrapped; its shifted clicks are committed as one window; then
# history is added — pairs of other queries, one click event each, stamped by a long-frozen transaction so that every
# watermark sees them as old — up to each size, and `amc learn --once --no-activate` runs three times per size
# (--no-activate keeps the bootstrap active, so every run reads the same window). Prints, per run, the cycle's wall
# time (learner_runs: started_at to finished_at), the process's, and what the cycle read (its debug log line).
# AMC (default .build/debug/amc) and AMC_CYCLE_SIZES (default "100000 1000000 10000000") can be set. Loading 10⁷
# pairs and events takes about three minutes here. Drops and recreates the database amc_cycle_cost_scratch.
set -euo pipefail
AMC=${AMC:-.build/debug/amc}
ADMIN=${AMC_ADMIN_URL:?set AMC_ADMIN_URL to a PostgreSQL URL that may CREATE DATABASE}
DB=amc_cycle_cost_scratch
URL="$ADMIN/$DB"
WORK=$(mktemp -d /tmp/amc-cycle-cost-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
psql -X -q -d "$ADMIN/postgres" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$URL")

$AMC migrate --database-url "$URL" --log-level error
$AMC simulate --out "$WORK/world" --images 1000 --concepts 12 --queries 400 --held-out 80 --shifted \
    --log-level error >/dev/null
$AMC catalog import --database-url "$URL" --log-level error "$WORK/world/catalog.jsonl" >/dev/null
cat >"$WORK/amc.json" <<'JSON'
{"learn": {"model": {"embedding-dimension": 32, "attention-dimension": 16, "modality-dimension": 16,
 "hash-buckets": 2048}, "bootstrap": {"epochs": 2}, "finetune": {"epochs": 8}, "gate": {"tolerance": 1},
 "baselines": false}}
JSON
# Lands a triad file (image \t query \t clicks) in one transaction as ingest does: events, then pairs.
land() {
    "${PSQL[@]}" <<SQL
CREATE TEMP TABLE t (image text, query text, clicks bigint);
\copy t FROM '$1'
BEGIN;
INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
SELECT 'load', 0, coalesce((SELECT max("offset") FROM click_events WHERE topic = 'load'), 0) + row_number() OVER (),
       query, image, clicks, now() FROM t;
INSERT INTO relevance_pairs AS p (query, image, clicks, click_events, first_seen, last_seen)
SELECT query, image, sum(clicks), count(*), now(), now() FROM t GROUP BY query, image
ON CONFLICT (query, image) DO UPDATE SET clicks = p.clicks + excluded.clicks,
    click_events = p.click_events + excluded.click_events, last_seen = excluded.last_seen,
    change_xid = pg_current_xact_id();
COMMIT;
SQL
}
land "$WORK/world/clicks.tsv"
$AMC learn --bootstrap --database-url "$URL" --config "$WORK/amc.json" --log-level error
land "$WORK/world/clicks-shifted.tsv"
have=0
for target in ${AMC_CYCLE_SIZES:-100000 1000000 10000000}; do
    "${PSQL[@]}" <<SQL
INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time, change_xid)
SELECT 'history', 0, i, 'history query ' || lpad((i / 10)::text, 9, '0'), 'history-image-' || (i % 10), 1,
       now() - interval '1 day', '3'::xid8
FROM generate_series($have + 1, $target) AS i;
INSERT INTO relevance_pairs (query, image, clicks, click_events, first_seen, last_seen, change_xid)
SELECT 'history query ' || lpad((i / 10)::text, 9, '0'), 'history-image-' || (i % 10), 1, 1,
       now() - interval '1 day', now() - interval '1 day', '3'::xid8
FROM generate_series($have + 1, $target) AS i;
SQL
    "${PSQL[@]}" -c "VACUUM ANALYZE relevance_pairs" -c "VACUUM ANALYZE click_events"
    have=$target
    echo "pairs in the table: $("${PSQL[@]}" -At -c "SELECT count(*) FROM relevance_pairs")"
    for run in 1 2 3; do
        started=$(date +%s.%N)
        $AMC learn --once --no-activate --database-url "$URL" --config "$WORK/amc.json" --log-level debug \
            2>"$WORK/log" >/dev/null
        ended=$(date +%s.%N)
        cycle=$("${PSQL[@]}" -At -c \
            "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 3) FROM learner_runs ORDER BY id DESC LIMIT 1")
        echo "  run $run: cycle ${cycle} s, process $(echo "$ended - $started" | bc) s, $(grep -o 'reads=[^[]*' "$WORK/log" | head -1)"
    done
done
