#!/bin/sh
# A throwaway 3-node Garage cluster on 127.0.0.2-4 (replication factor 3, data_fsync and
# metadata_fsync on), for tests and benchmarks. Garage is AGPL: it runs only as a separate
# process here, never linked into mailkeep.
#
#   cluster.sh start DIR [BASE_PORT]   starts the nodes, prints KEY=value lines (endpoints,
#                                      key id, secret, bucket) and writes them to DIR/env
#   cluster.sh stop-node DIR N         stops node N (1-3) with SIGKILL
#   cluster.sh start-node DIR N        starts node N again
#   cluster.sh stop DIR                stops every node and removes DIR
#
# Node N listens on 127.0.0.(N+1): S3 on BASE_PORT, RPC on BASE_PORT+1, admin on BASE_PORT+3.
# Each node's process is watched by WATCH_PID (when set): once that process is gone, the
# node stops, so a test that dies leaves nothing running.
set -eu
GARAGE=${GARAGE:-garage}
cmd=$1 dir=$2

conf() { echo "$dir/node$1/garage.toml"; }

run_node() {
    n=$1
    # setsid: the node outlives this script, not the watched process.
    setsid sh -c "
        $GARAGE -c $(conf $n) server >>$dir/node$n/log 2>&1 &
        g=\$!
        echo \$g >$dir/node$n/pid
        while kill -0 \$g 2>/dev/null; do
            if [ -n '${WATCH_PID:-}' ] && ! kill -0 ${WATCH_PID:-0} 2>/dev/null; then
                kill -9 \$g; wait \$g; rm -rf $dir; exit
            fi
            sleep 0.5
        done" </dev/null >/dev/null 2>&1 &
}

cli() { $GARAGE -c "$(conf 1)" "$@"; }

case $cmd in
start)
    base=${3:-39000}
    mkdir -p "$dir"
    secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    for n in 1 2 3; do
        ip=127.0.0.$((n + 1))
        mkdir -p "$dir/node$n/meta" "$dir/node$n/data"
        cat >"$(conf $n)" <<CONF
metadata_dir = "$dir/node$n/meta"
data_dir = "$dir/node$n/data"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = 3
consistency_mode = "consistent"
rpc_bind_addr = "$ip:$((base + 1))"
rpc_public_addr = "$ip:$((base + 1))"
rpc_secret = "$secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "$ip:$base"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "$ip:$((base + 3))"
CONF
        chmod 600 "$(conf $n)"
        run_node $n
    done
    # Wait for each node's RPC, then connect them.
    ids=""
    for n in 1 2 3; do
        i=0
        until id=$($GARAGE -c "$(conf $n)" node id -q 2>/dev/null); do
            i=$((i + 1)); [ $i -lt 100 ] || { cat "$dir/node$n/log" >&2; exit 1; }
            sleep 0.2
        done
        ids="$ids $id"
    done
    for id in $ids; do cli node connect "$id" >/dev/null; done
    for id in $ids; do cli layout assign -z dc1 -c 1G "${id%%@*}" >/dev/null; done
    cli layout apply --version 1 >/dev/null
    key_id=GK$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')
    key_secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    # The layout takes a moment to reach every node.
    i=0
    until cli key import --yes -n mailkeep "$key_id" "$key_secret" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || { cli key import --yes -n mailkeep "$key_id" "$key_secret"; exit 1; }
        sleep 0.2
    done
    cli bucket create mailkeep >/dev/null
    cli bucket allow --read --write --owner mailkeep --key mailkeep >/dev/null
    {
        echo "S3_ENDPOINTS=http://127.0.0.2:$base,http://127.0.0.3:$base,http://127.0.0.4:$base"
        echo "S3_REGION=garage"
        echo "S3_BUCKET=mailkeep"
        echo "S3_KEY_ID=$key_id"
        echo "S3_SECRET=$key_secret"
    } | tee "$dir/env"
    ;;
stop-node)
    kill -9 "$(cat "$dir/node$3/pid")" 2>/dev/null || true
    ;;
start-node)
    run_node "$3"
    ;;
stop)
    for n in 1 2 3; do kill -9 "$(cat "$dir/node$n/pid" 2>/dev/null)" 2>/dev/null || true; done
    sleep 0.2
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop-node|start-node|stop DIR ..." >&2; exit 2
    ;;
esac
