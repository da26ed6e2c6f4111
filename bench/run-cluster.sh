#!/usr/bin/env bash
# Cluster ingest: durable SMTP ingest through 1, 2 and 3 nodes sharing one PostgreSQL and a
# 3-node Garage cluster (bodies in S3), next to one embedded node and one node with bodies in
# PostgreSQL, with the same load in the same run; CPU per message of the nodes, of PostgreSQL
# and of Garage (on one small machine every process shares the cores, so CPU per message is
# what predicts throughput on real hardware). Needs `garage` on PATH.
# Usage: bench/run-cluster.sh [SESSIONS SIZE MESSAGES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-16}; S=${2:-10240}; M=${3:-5000}
cargo build --release -q -p mailkeep -p mailkeep-bench
BIN=$PWD/target/release/mailkeep; BENCH=$PWD/target/release/mailkeep-bench
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/cluster-bench.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${PGPID:-}" ] && kill -INT "$PGPID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${GDIR:-}" ] && tests/garage/cluster.sh stop "$GDIR" 2>/dev/null || true
  rm -rf "$WORK" "${PGDIR:-}"
}
trap cleanup EXIT
. bench/pg.sh
GDIR="$WORK/garage"
tests/garage/cluster.sh start "$GDIR" 39200 >/dev/null
. "$GDIR/env"
printf '%s\n' "$S3_SECRET" >"$WORK/s3-secret"
garage_pids() { cat "$GDIR"/node*/pid | tr '\n' ' '; }

# Clock ticks (user + system) of processes, summed.
ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
HZ=$(getconf CLK_TCK)

run() { # label nodes backend (embedded, postgres: bodies in PostgreSQL, s3: bodies in Garage)
  local label=$1 nodes=$2 backend=$3 t="$WORK/$1" addrs="" node_pids=()
  $BIN --data "$t" init --domain example.test >/dev/null
  if [ "$backend" != embedded ]; then
    pg_createdb "$label"
    printf '\n[store]\nbackend = "postgres"\nurl = "%s"\n' "$(pg_url "$label")" >>"$t/mailkeep.toml"
  fi
  if [ "$backend" = s3 ]; then
    printf '\n[blobs]\nbackend = "s3"\nendpoint = "%s"\nbucket = "%s"\nregion = "%s"\nkey_id = "%s"\nsecret_file = "%s"\nprefix = "%s"\n' \
      "${S3_ENDPOINTS%%,*}" "$S3_BUCKET" "$S3_REGION" "$S3_KEY_ID" "$WORK/s3-secret" "$label" >>"$t/mailkeep.toml"
  fi
  if [ "$backend" != embedded ]; then
    $BIN --data "$t" domain add example.test >/dev/null
  fi
  echo 'bench-password-123' | $BIN --data "$t" user add bench@example.test --password-stdin >/dev/null
  for i in $(seq "$nodes"); do
    local d="$t.node$i" host="127.0.0.1$i"
    cp -a "$t" "$d"
    sed -i "s/127.0.0.1:2525/$host:12525/; s/\"127.0.0.1:\([0-9]*\)\"/\"$host:1\1\"/g" "$d/mailkeep.toml"
    # Each node talks to its own Garage node, as a node would to a store node beside it.
    [ "$backend" = s3 ] && sed -i "s#^endpoint = .*#endpoint = \"$(echo "$S3_ENDPOINTS" | cut -d, -f"$i")\"#" "$d/mailkeep.toml"
    MAILKEEP_DNS_RESOLVER=none MAILKEEP_LOG=warn $BIN --data "$d" serve & node_pids+=($!); PIDS+=($!)
    addrs="${addrs:+$addrs,}$host:12525"
  done
  for a in ${addrs//,/ }; do
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/${a%:*}/${a#*:}") 2>/dev/null && break; sleep 0.1; done
  done
  local n0 p0 g0 n1 p1 g1
  n0=$(ticks "${node_pids[@]}"); p0=$(ticks $(pg_pids)); g0=$(ticks $(garage_pids))
  $BENCH smtp --addr "$addrs" --rcpt bench@example.test --sessions "$N" --size "$S" --messages "$M" | tee "$WORK/$label.txt"
  n1=$(ticks "${node_pids[@]}"); p1=$(ticks $(pg_pids)); g1=$(ticks $(garage_pids))
  awk -v n=$((n1 - n0)) -v p=$((p1 - p0)) -v g=$((g1 - g0)) -v m="$M" -v hz="$HZ" -v k="$nodes" -v l="$label" 'BEGIN {
    printf "%s: CPU per message: mailkeep %.0f us (%.0f us per node), PostgreSQL %.0f us, Garage %.0f us (3 nodes)\n",
      l, n / hz / m * 1e6, n / hz / m * 1e6 / k, p / hz / m * 1e6, g / hz / m * 1e6 }'
  for p in "${node_pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
}

run embedded 1 embedded
run pg1 1 postgres
run s3n1 1 s3
run s3n2 2 s3
run s3n3 3 s3
E=$(grep -o '[0-9.]* msg/s' "$WORK/embedded.txt" | cut -d' ' -f1)
for l in pg1 s3n1 s3n2 s3n3; do
  R=$(grep -o '[0-9.]* msg/s' "$WORK/$l.txt" | cut -d' ' -f1)
  echo "$l: ${R} msg/s = $(awk "BEGIN{printf \"%.2f\", $R/$E}")x the embedded node"
done
