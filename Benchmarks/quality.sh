#!/usr/bin/env bash
# The quality figures of Docs/benchmarks.md for every scoring architecture, through the real commands: a simulated
# world (5000 images, 500 held-out queries), the embedded broker, ingest, `amc learn`, `amc eval`. For each
# architecture: the original-intent bootstrap (evaluated on the original and on the shifted labels), the shifted
# click stream and one online fine-tuning cycle of its online part, and a full retrain on all clicks to compare with.
#
#   AMC_ADMIN_URL=postgresql://postgres@localhost:5432 bash Benchmarks/quality.sh [SEED]
#
# Needs a release build (swift build -c release) and a PostgreSQL server where the URL may create databases.
# AMC_QUALITY_ARCHITECTURES="amc late_fusion" limits the architectures (default: every one `amc learn` knows);
# AMC_QUALITY_CONFIG=FILE passes a config file to every `amc learn` (e.g. {"learn": {"seed": 2}}).
# Prints one line per architecture, then the fixed late fusion baseline:
#   QUALITY seed=42 method=amc before=… shifted=… finetuned=… retrained=… finetune=published|refused
set -euo pipefail
AMC=${AMC:-.build/release/amc}
ADMIN=${AMC_ADMIN_URL:?set AMC_ADMIN_URL to a PostgreSQL URL that may CREATE DATABASE}
SEED=${1:-42}
LEARN=(${AMC_QUALITY_CONFIG:+--config "$AMC_QUALITY_CONFIG"})
# Every architecture of the build: `amc learn --help` lists them ("--architecture … trains, one of: amc, late_fusion
# (key learn.architecture)", possibly over several lines).
ARCHITECTURES=${AMC_QUALITY_ARCHITECTURES:-$($AMC learn --help | tr -s ' \n' ' ' |
    sed -n 's/.*trains, one of: \([^(]*\) (key learn.architecture).*/\1/p' | tr -d ',')}
[ -n "$ARCHITECTURES" ] || { echo "cannot read the architectures from amc learn --help" >&2; exit 1; }
WORLD=$(mktemp -d /tmp/amc-quality-XXXXXX)
PORT=$((30000 + RANDOM % 20000))
trap 'kill $BROKER 2>/dev/null || true; rm -rf "$WORLD"' EXIT

$AMC simulate --out "$WORLD" --seed "$SEED" --shifted
$AMC broker --port "$PORT" --partitions 4 --topic original --topic shifted >/dev/null 2>&1 &
BROKER=$!
sleep 2
BROKERS=127.0.0.1:$PORT
for topic in original shifted; do
    file=clicks.tsv; [ "$topic" = shifted ] && file=clicks-shifted.tsv
    $AMC produce --brokers "$BROKERS" --topic "$topic" "$WORLD/$file" >/dev/null 2>&1
done

database() {  # database NAME → exports AMC_DATABASE_URL for a fresh, migrated database with the catalog
    psql "$ADMIN/postgres" -qc "DROP DATABASE IF EXISTS amc_quality_$1" -qc "CREATE DATABASE amc_quality_$1"
    export AMC_DATABASE_URL="$ADMIN/amc_quality_$1"
    $AMC migrate >/dev/null 2>&1
    $AMC catalog import "$WORLD/catalog.jsonl" >/dev/null
}
ingest() {  # ingest TOPIC: every click of the topic, through a new consumer group
    $AMC ingest --brokers "$BROKERS" --topic "$1" --group "$1-$RANDOM$RANDOM" --until-idle 3 2>&1 | grep "ingest stopped"
}
ndcg5() {  # ndcg5 LABELS METHOD: NDCG@5 of METHOD's row in `amc eval` on LABELS
    $AMC eval --labels "$WORLD/$1" --json |
        python3 -c 'import json, sys; rows = json.load(sys.stdin)["rows"]
print(next("%.4f" % r["metrics"]["ndcg5"] for r in rows if r["method"] == sys.argv[1]))' "$2"
}
clicks() { awk -F'\t' '{ s += $3 } END { print s }' "$WORLD/$1"; }
echo "== world seed $SEED: $(clicks clicks.tsv) original and $(clicks clicks-shifted.tsv) shifted clicks; architectures: $ARCHITECTURES"

RESULTS=()
FIRST=1
for ARCH in $ARCHITECTURES; do
    echo "== $ARCH: original intent, bootstrap on clicks.tsv"
    database "online_$ARCH"
    ingest original
    # The single-modality baselines (and their fixed 0.5/0.5 late fusion) once, beside the first architecture.
    BASELINES=(--no-baselines); [ "$FIRST" = 1 ] && BASELINES=()
    $AMC learn --bootstrap --architecture "$ARCH" "${BASELINES[@]}" "${LEARN[@]}"
    $AMC eval --labels "$WORLD/dev-labels.tsv"
    BEFORE=$(ndcg5 dev-labels.tsv "$ARCH")
    SHIFTED=$(ndcg5 dev-labels-shifted.tsv "$ARCH")
    if [ "$FIRST" = 1 ]; then
        FIXED_BEFORE=$(ndcg5 dev-labels.tsv late_fusion_fixed)
        FIXED_SHIFTED=$(ndcg5 dev-labels-shifted.tsv late_fusion_fixed)
    fi
    echo "== $ARCH: intent shift, one online fine-tuning cycle of its online part on clicks-shifted.tsv"
    ingest shifted
    TUNED=$($AMC learn --once "${LEARN[@]}")
    echo "$TUNED"
    # The gate may refuse the fine-tune: the line then says so, and the figure is the bootstrap version's.
    case "$TUNED" in published*) GATE=published ;; *) GATE=refused ;; esac
    FINETUNED=$(ndcg5 dev-labels-shifted.tsv "$ARCH")

    echo "== $ARCH: full retrain on all clicks (original + shifted)"
    database "all_$ARCH"
    ingest original
    ingest shifted
    $AMC learn --bootstrap --architecture "$ARCH" --no-baselines "${LEARN[@]}"
    RETRAINED=$(ndcg5 dev-labels-shifted.tsv "$ARCH")
    RESULTS+=("QUALITY seed=$SEED method=$ARCH before=$BEFORE shifted=$SHIFTED finetuned=$FINETUNED retrained=$RETRAINED finetune=$GATE")
    FIRST=0
done
echo "== NDCG@5: original labels (before), shifted labels with the bootstrap version (shifted), after one fine-tune (finetuned), full retrain (retrained)"
printf '%s\n' "${RESULTS[@]}"
echo "QUALITY seed=$SEED method=late_fusion_fixed before=$FIXED_BEFORE shifted=$FIXED_SHIFTED"
