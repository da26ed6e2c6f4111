#!/usr/bin/env bash
# Ingest where fsyncs dominate: bench/run.sh's probe and load, in the same run, with every
# fsync and fdatasync of both taking FLUSH_MS longer, one at a time (tools/slowsync, loaded with
# LD_PRELOAD; the data still goes to this disk and is really fsynced). This machine's disk
# makes an fsync nearly free, so there ingest is bound by CPU; this emulates a disk with slow
# cache flushes (FLUSH_MS 2.2, the default, gives the probe the ~170 files/s that issue 2 assumed).
# Usage: bench/run-slowdisk.sh [FLUSH_MS SESSIONS SIZE MESSAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
F=${1:-2.2}; N=${2:-16}; S=${3:-10240}; M=${4:-5000}
cargo build --release -q -p mailkeep -p mailkeep-bench -p mailkeep-slowsync
BIN=target/release/mailkeep; BENCH=target/release/mailkeep-bench
SLOW=$PWD/target/release/libmailkeep_slowsync.so
WORK=$(mktemp -d "${BENCH_DIR:-$PWD/target}/slowdisk.XXXXXX")
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
DATA=$WORK/data
$BIN --data "$DATA" init --domain example.test >/dev/null 2>&1
sed -i 's/127.0.0.1:2525/127.0.0.1:12525/; s/"127.0.0.1:2587"/"127.0.0.1:12587"/; s/"127.0.0.1:2465"/"127.0.0.1:12465"/; s/"127.0.0.1:2143"/"127.0.0.1:12143"/; s/"127.0.0.1:2993"/"127.0.0.1:12993"/' "$DATA/mailkeep.toml"
echo 'bench-password-123' | $BIN --data "$DATA" user add bench@example.test --password-stdin >/dev/null 2>&1
export MAILKEEP_FLUSH_MS=$F
LD_PRELOAD=$SLOW MAILKEEP_DNS_RESOLVER=none MAILKEEP_LOG=warn $BIN --data "$DATA" serve & PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/12525) 2>/dev/null && break; sleep 0.1; done
echo "disk: $(df -h "$WORK" | tail -1 | awk '{print $1, $6}'), every fsync ${F} ms longer, one at a time"
LD_PRELOAD=$SLOW $BENCH probe --dir "$WORK" --size "$S" --count 200 | tee "$WORK/probe.txt"
$BENCH smtp --addr 127.0.0.1:12525 --rcpt bench@example.test --sessions 1 --size "$S" --messages 200 | tee "$WORK/lone.txt"
$BENCH smtp --addr 127.0.0.1:12525 --rcpt bench@example.test --sessions "$N" --size "$S" --messages "$M" | tee "$WORK/smtp.txt"
P=$(grep -o '[0-9.]* files/s' "$WORK/probe.txt" | cut -d' ' -f1)
R=$(grep -o '[0-9.]* msg/s' "$WORK/smtp.txt" | cut -d' ' -f1)
echo "ratio: mailkeep ${R} msg/s / probe ${P} files/s = $(awk "BEGIN{printf \"%.2f\", $R/$P}")x"
