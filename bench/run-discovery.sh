#!/usr/bin/env bash
# Discovery and journal benchmark: a generated mailbox of N messages (default 100,000)
# imported with `mailkeep import` (every message journaled), then `journal verify` over the
# whole store and `discover search` for a rare word, a common word and a phrase (5 runs each;
# min / median / max). Usage: bench/run-discovery.sh [MESSAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
cargo build --release -q -p mailkeep -p mailkeep-bench
BIN=target/release/mailkeep; BENCH=target/release/mailkeep-bench
WORK=$(mktemp -d "${BENCH_DIR:-$PWD/target}/bench-disc.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DATA=$WORK/data
$BIN --data "$DATA" init --domain example.test >/dev/null
echo 'bench-password-123' | $BIN --data "$DATA" user add bench@example.test --password-stdin >/dev/null
$BENCH mbox --out "$WORK/box.mbox" --count "$N"
echo "mbox: $N messages, $(du -m "$WORK/box.mbox" | cut -f1) MiB"
t() { local s; s=$(date +%s.%N); "$@" >/dev/null 2>&1; awk "BEGIN{printf \"%.2f\", $(date +%s.%N) - $s}"; }
echo "import (journaled): $(t $BIN --data "$DATA" import --account bench@example.test "$WORK/box.mbox") s"
echo "store: $(du -sm "$DATA" | cut -f1) MiB; journal leaves: $($BIN --data "$DATA" audit --json | wc -l)"
echo "journal verify (whole store): $(t $BIN --data "$DATA" journal verify) s"
for q in '"message 4242 about"' 'lorem' '"topic 17"'; do
  runs=()
  for _ in 1 2 3 4 5; do runs+=("$(t $BIN --data "$DATA" discover search "$q")"); done
  sorted=$(printf '%s\n' "${runs[@]}" | sort -n | tr '\n' ' ')
  echo "discover search $q: s (min median max) = $(echo $sorted | awk '{print $1, $3, $5}')"
done
