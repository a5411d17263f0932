#!/usr/bin/env bash
# The quality figures of Docs/benchmarks.md, through the real commands: a simulated world (5000 images, 500 held-out
# queries), the embedded broker, ingest, `amc learn`, `amc eval`. Then the intent shift: the shifted click stream,
# one online MTN fine-tuning cycle, and two full retrains to compare with.
#
#   AMC_ADMIN_URL=postgresql://postgres@localhost:5432 bash Benchmarks/quality.sh [SEED]
#
# Needs a release build (swift build -c release) and a PostgreSQL server where the URL may create databases.
set -euo pipefail
AMC=${AMC:-.build/release/amc}
ADMIN=${AMC_ADMIN_URL:?set AMC_ADMIN_URL to a PostgreSQL URL that may CREATE DATABASE}
SEED=${1:-42}
# Optional learner settings for every `amc learn` below (a JSON config file, e.g. {"learn": {"seed": 2}}).
LEARN=(${AMC_QUALITY_CONFIG:+--config "$AMC_QUALITY_CONFIG"})
WORLD=$(mktemp -d /tmp/amc-quality-XXXXXX)
PORT=$((30000 + RANDOM % 20000))
trap 'kill $BROKER 2>/dev/null || true; rm -rf "$WORLD"' EXIT

$AMC simulate --out "$WORLD" --seed "$SEED" --shifted
$AMC broker --port "$PORT" --partitions 4 --topic base --topic shifted --topic all --topic only >/dev/null 2>&1 &
BROKER=$!
sleep 2
BROKERS=127.0.0.1:$PORT

database() {  # database NAME → exports AMC_DATABASE_URL for a fresh, migrated database with the catalog
    psql "$ADMIN/postgres" -qc "DROP DATABASE IF EXISTS amc_quality_$1" -qc "CREATE DATABASE amc_quality_$1"
    export AMC_DATABASE_URL="$ADMIN/amc_quality_$1"
    $AMC migrate >/dev/null 2>&1
    $AMC catalog import "$WORLD/catalog.jsonl"
}
ingest() {  # ingest TOPIC FILE…
    local topic=$1; shift
    for file in "$@"; do $AMC produce --brokers "$BROKERS" --topic "$topic" "$WORLD/$file" >/dev/null 2>&1; done
    $AMC ingest --brokers "$BROKERS" --topic "$topic" --group "$topic-$RANDOM" --until-idle 3 2>&1 | grep "ingest stopped"
}
clicks() { awk -F'\t' '{ s += $3 } END { print s }' "$WORLD/$1"; }

echo "== Original intent: bootstrap on clicks.tsv ($(clicks clicks.tsv) clicks), evaluated on dev-labels.tsv"
database online
ingest base clicks.tsv
$AMC learn --bootstrap "${LEARN[@]}"
$AMC eval --labels "$WORLD/dev-labels.tsv"

echo "== Intent shift: the same version on dev-labels-shifted.tsv"
$AMC eval --labels "$WORLD/dev-labels-shifted.tsv"
echo "== Online: one MTN fine-tuning cycle on clicks-shifted.tsv ($(clicks clicks-shifted.tsv) clicks)"
ingest base clicks-shifted.tsv
$AMC learn --once "${LEARN[@]}"
$AMC eval --labels "$WORLD/dev-labels-shifted.tsv" | sed -n 1,3p

echo "== Full retrain on all clicks (original + shifted)"
database all
ingest all clicks.tsv clicks-shifted.tsv
$AMC learn --bootstrap --no-baselines "${LEARN[@]}"
$AMC eval --labels "$WORLD/dev-labels-shifted.tsv" | sed -n 1,3p

echo "== Full retrain on the shifted clicks only"
database only
ingest only clicks-shifted.tsv
$AMC learn --bootstrap --no-baselines "${LEARN[@]}"
$AMC eval --labels "$WORLD/dev-labels-shifted.tsv" | sed -n 1,3p
