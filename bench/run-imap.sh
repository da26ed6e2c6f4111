#!/usr/bin/env bash
# IMAP benchmark: a generated mailbox of N messages (default 100,000) imported with
# `mailkeep import` (which also indexes them), then SELECT, UID FETCH 1:* (FLAGS), 100 random
# full bodies, UID SEARCH by header, by date and by body text (the full-text index), and the
# server's memory per idle authenticated connection (1,000).
# Usage: bench/run-imap.sh [MESSAGES [IDLE_CONNECTIONS]]; MAILKEEP_BIN=other/binary runs another
# build (a baseline) under the same load; STORE=postgres keeps the store in a PostgreSQL the
# script starts (a cluster node's view); STORE=s3 also puts the bodies in a 3-node Garage
# cluster it starts (needs `garage` on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}; IDLE=${2:-1000}
cargo build --release -q -p mailkeep -p mailkeep-bench
BIN=${MAILKEEP_BIN:-target/release/mailkeep}; BENCH=target/release/mailkeep-bench
WORK=$(mktemp -d "${BENCH_DIR:-$PWD/target}/bench-imap.XXXXXX")
trap 'kill $PID 2>/dev/null || true; [ -n "${PGPID:-}" ] && kill -INT $PGPID; [ -n "${GDIR:-}" ] && tests/garage/cluster.sh stop "$GDIR"; wait 2>/dev/null || true; rm -rf "$WORK" "${PGDIR:-}"' EXIT
DATA=$WORK/data
$BIN --data "$DATA" init --domain example.test >/dev/null
if [ "${STORE:-embedded}" != embedded ]; then
  . bench/pg.sh
  pg_createdb imap
  printf '\n[store]\nbackend = "postgres"\nurl = "%s"\n' "$(pg_url imap)" >>"$DATA/mailkeep.toml"
  if [ "$STORE" = s3 ]; then
    GDIR=$WORK/garage
    tests/garage/cluster.sh start "$GDIR" 39300 >/dev/null
    . "$GDIR/env"
    printf '%s\n' "$S3_SECRET" >"$WORK/s3-secret"
    printf '\n[blobs]\nbackend = "s3"\nendpoint = "%s"\nbucket = "%s"\nregion = "%s"\nkey_id = "%s"\nsecret_file = "%s"\n' \
      "${S3_ENDPOINTS%%,*}" "$S3_BUCKET" "$S3_REGION" "$S3_KEY_ID" "$WORK/s3-secret" >>"$DATA/mailkeep.toml"
  fi
  $BIN --data "$DATA" domain add example.test >/dev/null
fi
sed -i 's/"127.0.0.1:2525"/"127.0.0.1:13525"/; s/"127.0.0.1:2587"/"127.0.0.1:13587"/; s/"127.0.0.1:2465"/"127.0.0.1:13465"/; s/"127.0.0.1:2143"/"127.0.0.1:13143"/; s/"127.0.0.1:2993"/"127.0.0.1:13993"/' "$DATA/mailkeep.toml"
sed -i "s/^reserved_for_authenticated = .*/reserved_for_authenticated = 0/; s/^max_connections_per_ip = .*/max_connections_per_ip = $((IDLE + 10))/; s/^max_sessions_per_account = .*/max_sessions_per_account = $((IDLE + 10))/; s/^max_connections = .*/max_connections = $((IDLE + 10))/" "$DATA/mailkeep.toml"
echo 'bench-password-123' | $BIN --data "$DATA" user add bench@example.test --password-stdin >/dev/null
$BENCH mbox --out "$WORK/box.mbox" --count "$N"
echo "mbox: $N messages, $(du -m "$WORK/box.mbox" | cut -f1) MiB"
START=$(date +%s.%N)
$BIN --data "$DATA" import --account bench@example.test "$WORK/box.mbox"
echo "import: $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $START}") s"
ulimit -n 65536 2>/dev/null || true
MAILKEEP_DNS_RESOLVER=none MAILKEEP_LOG=warn $BIN --data "$DATA" serve & PID=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/13993) 2>/dev/null && break; sleep 0.1; done
$BENCH imap --addr 127.0.0.1:13993 --cert "$DATA/keys/tls-cert.pem" --user bench@example.test \
  --password bench-password-123 --pid "$PID" --idle "$IDLE"
