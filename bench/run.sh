#!/usr/bin/env bash
# Ingest benchmark: mailkeep's durable SMTP ingest against the one-durable-file-per-message
# probe, both on the same disk in the same run. Usage: bench/run.sh [SESSIONS SIZE MESSAGES];
# VERDICT=off runs it with the spam verdict off.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-16}; S=${2:-10240}; M=${3:-5000}
cargo build --release -q -p mailkeep -p mailkeep-bench
BIN=target/release/mailkeep; BENCH=target/release/mailkeep-bench
WORK=$(mktemp -d "${BENCH_DIR:-$PWD/target}/bench.XXXXXX")
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
DATA=$WORK/data
$BIN --data "$DATA" init --domain example.test >/dev/null
# Free ports so that a running quickstart does not collide.
sed -i 's/127.0.0.1:2525/127.0.0.1:12525/; s/"127.0.0.1:2587"/"127.0.0.1:12587"/; s/"127.0.0.1:2465"/"127.0.0.1:12465"/; s/"127.0.0.1:2143"/"127.0.0.1:12143"/; s/"127.0.0.1:2993"/"127.0.0.1:12993"/' "$DATA/mailkeep.toml"
# VERDICT=off turns the spam verdict off: the baseline for what it adds per delivery.
if [ "${VERDICT:-on}" = off ]; then
  sed -i '/^\[verdict\]/,/^\[/ s/^enabled = true/enabled = false/' "$DATA/mailkeep.toml"
fi
echo 'bench-password-123' | $BIN --data "$DATA" user add bench@example.test --password-stdin >/dev/null
# No DNS: the benchmark measures ingest, not lookups (and must not leave the machine).
MAILKEEP_DNS_RESOLVER=none MAILKEEP_LOG=warn $BIN --data "$DATA" serve & PID=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/12525) 2>/dev/null && break; sleep 0.1; done
echo "disk: $(df -h "$WORK" | tail -1 | awk '{print $1, $6}')"
$BENCH probe --dir "$WORK" --size "$S" --count 500 | tee "$WORK/probe.txt"
$BENCH smtp --addr 127.0.0.1:12525 --rcpt bench@example.test --sessions 1 --size "$S" --messages 300 | tee "$WORK/lone.txt"
$BENCH smtp --addr 127.0.0.1:12525 --rcpt bench@example.test --sessions "$N" --size "$S" --messages "$M" | tee "$WORK/smtp.txt"
P=$(grep -o '[0-9.]* files/s' "$WORK/probe.txt" | cut -d' ' -f1)
R=$(grep -o '[0-9.]* msg/s' "$WORK/smtp.txt" | cut -d' ' -f1)
echo "ratio: mailkeep ${R} msg/s / probe ${P} files/s = $(awk "BEGIN{printf \"%.2f\", $R/$P}")x"
