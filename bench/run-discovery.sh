#!/usr/bin/env bash
# Discovery and journal benchmark on N messages (default 100,000): the 6,046 real messages of
# tests/data/corpus cycled (each copy marked `X-Bench-Copy: copyNx`, so every body is distinct),
# imported with `mailkeep import` (every message journaled, then indexed); the index's size
# against the stored bytes; `discover search` for a rare word (one message), a common word and
# a phrase (RUNS runs each, default 20: p50 and p99) against the same search reading every body
# (--no-index, the baseline); `journal verify` over the whole store.
# Usage: bench/run-discovery.sh [MESSAGES] [RUNS]. BASE_BIN=other/binary also times the rare-word
# search with that build on the same data (a baseline in the same run); NO_INDEX_BASELINE=0
# skips the reading-every-body baseline (minutes at a million messages). Peak memory of each
# search is measured with /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
RUNS=${2:-20}
cargo build --release -q -p mailkeep -p mailkeep-bench
BIN=$PWD/target/release/mailkeep; BENCH=$PWD/target/release/mailkeep-bench
WORK=$(mktemp -d "${BENCH_DIR:-$PWD/target}/bench-disc.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DATA=$WORK/data
mkdir "$WORK/corpus"
tar xzf tests/data/corpus/spamassassin-public-corpus.tar.gz -C "$WORK/corpus"
$BIN --data "$DATA" init --domain example.test >/dev/null
echo 'bench-password-123' | $BIN --data "$DATA" user add bench@example.test --password-stdin >/dev/null
$BENCH mbox --out "$WORK/box.mbox" --count "$N" --corpus "$WORK/corpus"
echo "mbox: $N messages, $(du -m "$WORK/box.mbox" | cut -f1) MiB"
now() { date +%s.%N; }
s=$(now)
$BIN --data "$DATA" import --account bench@example.test "$WORK/box.mbox" 2>/dev/null | sed 's/^/  /'
echo "import + indexing: $(awk "BEGIN{printf \"%.1f\", $(now) - $s}") s"
store=$(du -sm --exclude=index "$DATA" | cut -f1); index=$(du -sm "$DATA/index" | cut -f1)
echo "store: $store MiB without the index; index: $index MiB ($(awk "BEGIN{printf \"%.0f\", 100 * $index / $store}") % of the store)"
echo "journal leaves: $($BIN --data "$DATA" audit --json | wc -l)"
s=$(now); $BIN --data "$DATA" journal verify >/dev/null
echo "journal verify (whole store): $(awk "BEGIN{printf \"%.2f\", $(now) - $s}") s"
peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
for q in 'copy4242x' 'the' '"click here"'; do
  hits=$($BIN --data "$DATA" discover search "$q" 2>/dev/null | wc -l)
  runs=()
  for _ in $(seq "$RUNS"); do
    s=$(now); $BIN --data "$DATA" discover search "$q" >/dev/null 2>&1
    runs+=("$(awk "BEGIN{printf \"%.3f\", $(now) - $s}")")
  done
  printf '%s\n' "${runs[@]}" | sort -n | awk -v q="$q" -v h="$hits" '{a[NR]=$1} END {
    p99 = int(NR * 0.99 + 0.999); if (p99 > NR) p99 = NR
    printf "discover search %s (%d hits): p50 %.3f s, p99 %.3f s over %d runs\n", q, h, a[int((NR + 1) / 2)], a[p99], NR }'
  echo "  peak memory: $(peak "$BIN" --data "$DATA" discover search "$q") KiB"
  if [ -n "${BASE_BIN:-}" ] && [ "$q" = copy4242x ]; then
    runs=()
    for _ in $(seq "$RUNS"); do
      s=$(now); "$BASE_BIN" --data "$DATA" discover search "$q" >/dev/null 2>&1
      runs+=("$(awk "BEGIN{printf \"%.3f\", $(now) - $s}")")
    done
    printf '%s\n' "${runs[@]}" | sort -n | awk '{a[NR]=$1} END {
      printf "  baseline build (BASE_BIN): p50 %.3f s\n", a[int((NR + 1) / 2)] }'
    echo "  baseline peak memory: $(peak "$BASE_BIN" --data "$DATA" discover search "$q") KiB"
  fi
  [ "${NO_INDEX_BASELINE:-1}" = 0 ] && continue
  # Baseline: the same search reading every body (--no-index), 3 runs, median.
  runs=()
  for _ in 1 2 3; do
    s=$(now); $BIN --data "$DATA" discover search --no-index "$q" >/dev/null 2>&1
    runs+=("$(awk "BEGIN{printf \"%.3f\", $(now) - $s}")")
  done
  printf '%s\n' "${runs[@]}" | sort -n | awk -v q="$q" '{a[NR]=$1} END {
    printf "  baseline without the index (--no-index): median %.3f s\n", a[2] }'
done
