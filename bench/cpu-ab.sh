#!/usr/bin/env bash
# A/B of mailkeep binaries on this machine, alternated so that both see the same noise: for
# each round and binary, a fresh data directory, bench/run.sh's load (16 sessions, 10 KiB),
# and the server's CPU per message by thread (from /proc, user + system), which varies far
# less from run to run than messages/s on a shared machine.
# Usage: bench/cpu-ab.sh [-r ROUNDS] [-m MESSAGES] BIN [BIN...]
#   e.g. git worktree add /tmp/old HEAD~1 && (cd /tmp/old && cargo build --release -p mailkeep)
#        bench/cpu-ab.sh /tmp/old/target/release/mailkeep target/release/mailkeep
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=3; M=20000
while getopts r:m: o; do
    case $o in r) ROUNDS=$OPTARG ;; m) M=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-r ROUNDS] [-m MESSAGES] BIN [BIN...]" >&2; exit 2; }
cargo build --release -q -p mailkeep-bench
BENCH=target/release/mailkeep-bench
WORK=$(mktemp -d "${BENCH_DIR:-$PWD/target}/cpu-ab.XXXXXX")
PID=
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
TICK=$(getconf CLK_TCK)

# Per-thread-name CPU ticks of process $1.
threads() {
    for t in /proc/"$1"/task/*; do
        stat=$(sed 's/.*) //' "$t/stat")
        set -- $stat
        echo "$(cat "$t/comm" | tr ' ' _) $((${12} + ${13}))"
    done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort
}

for round in $(seq "$ROUNDS"); do
    for bin in "$@"; do
        DATA=$WORK/data
        rm -rf "$DATA"
        "$bin" --data "$DATA" init --domain example.test >/dev/null 2>&1
        sed -i 's/127.0.0.1:2525/127.0.0.1:12525/; s/"127.0.0.1:2587"/"127.0.0.1:12587"/; s/"127.0.0.1:2465"/"127.0.0.1:12465"/; s/"127.0.0.1:2143"/"127.0.0.1:12143"/; s/"127.0.0.1:2993"/"127.0.0.1:12993"/' "$DATA/mailkeep.toml"
        echo 'bench-password-123' | "$bin" --data "$DATA" user add bench@example.test --password-stdin >/dev/null 2>&1
        MAILKEEP_DNS_RESOLVER=none MAILKEEP_LOG=warn "$bin" --data "$DATA" serve 2>/dev/null & PID=$!
        for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/12525) 2>/dev/null && break; sleep 0.1; done
        threads "$PID" > "$WORK/before"
        out=$($BENCH smtp --addr 127.0.0.1:12525 --rcpt bench@example.test --sessions 16 --size 10240 --messages "$M")
        threads "$PID" > "$WORK/after"
        kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
        rate=$(grep -o '[0-9.]* msg/s' <<<"$out")
        p99=$(grep -o 'p99 [0-9.]* ms' <<<"$out")
        cpu=$(join "$WORK/before" "$WORK/after" | awk -v m="$M" -v hz="$TICK" \
            '$3 > $2 {printf "%s %.0f µs  ", $1, ($3 - $2) / hz / m * 1e6}')
        echo "round $round  $bin: $rate, $p99; per message: $cpu"
    done
done
