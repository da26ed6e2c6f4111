#!/usr/bin/env bash
# rspamd on the folds of bench/filter/folds.sh: for each fold, an emptied Redis (rspamd's
# Bayes store) learns the other folds (rspamc learn_spam / learn_ham), then rspamd judges
# this fold. Modules that look anything up on the network (RBLs, SURBL, fuzzy, DCC, phishing
# feeds, URL redirect resolution, ASN, greylisting, SPF/DKIM/DMARC/ARC) are off and DNS goes to a closed port on
# loopback; run.sh runs this in a namespace with only loopback. A message is spam when
# rspamd's action is anything but "no action". Writes DIR/rspamd.tsv.
# Usage: bench/filter/rspamd.sh DIR
set -euo pipefail
dir=$(cd "$1" && pwd); work=$dir/rspamd; out=$dir/rspamd.tsv
rm -rf "$work"; mkdir -p "$work/run" "$work/db" "$work/redis"
cp -r /etc/rspamd "$work/etc"
redis_port=37840; normal=37841; controller=37842; proxy=37843
# SPF, DKIM, DMARC, ARC and the hostname checks need DNS: off, as SpamAssassin's
# `dns_available no` turns off its DNS tests (a failed lookup must not count against a message).
for m in rbl surbl fuzzy_check dcc phishing url_redirector asn greylist emails mx_check \
         spamassassin neural ratelimit replies reputation history_redis antivirus \
         external_services clickhouse elastic metadata_exporter rspamd_update p0f \
         spf dkim dmarc arc hfilter; do
  echo "enabled = false;" >"$work/etc/local.d/$m.conf"
done
cat >"$work/etc/local.d/options.inc" <<EOF
dns { nameserver = ["127.0.0.1:9"]; timeout = 0.1s; retransmits = 0; }
EOF
echo "servers = \"127.0.0.1:$redis_port\";" >"$work/etc/local.d/redis.conf"
cat >"$work/etc/local.d/classifier-bayes.conf" <<EOF
backend = "redis";
servers = "127.0.0.1:$redis_port";
autolearn = false;
EOF
echo "bind_socket = \"127.0.0.1:$normal\"; count = 2;" >"$work/etc/override.d/worker-normal.inc"
echo "bind_socket = \"127.0.0.1:$controller\";" >"$work/etc/override.d/worker-controller.inc"
echo "bind_socket = \"127.0.0.1:$proxy\";" >"$work/etc/override.d/worker-proxy.inc"
chown -R _rspamd "$work"

redis-server --port $redis_port --bind 127.0.0.1 --dir "$work/redis" --save "" \
  --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
redis=$!
trap 'kill $redis $(cat "$work/run/rspamd.pid" 2>/dev/null) 2>/dev/null || true' EXIT
for _ in $(seq 100); do redis-cli -p $redis_port ping >/dev/null 2>&1 && break; sleep 0.1; done

: >"$out"
for fold in 0 1 2 3 4; do
  redis-cli -p $redis_port flushall >/dev/null
  rspamd -c "$work/etc/rspamd.conf" -u _rspamd -g _rspamd \
    --var CONFDIR="$work/etc" --var LOCAL_CONFDIR="$work/etc" --var RUNDIR="$work/run" \
    --var LOGDIR="$work" --var DBDIR="$work/db"
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$controller) 2>/dev/null && break; sleep 0.2; done
  for class in spam ham; do
    awk -F'\t' -v f=$fold -v c=$class '$1 != f && $2 == c { print $3 }' "$dir/folds.tsv" |
      xargs -n 200 rspamc -h 127.0.0.1:$controller -n 4 learn_$class >/dev/null
  done
  echo "fold $fold: learnt; $(redis-cli -p $redis_port dbsize) keys in Redis" >&2
  awk -F'\t' -v f=$fold '$1 == f { print $3 }' "$dir/folds.tsv" >"$work/test$fold"
  xargs -a "$work/test$fold" -n 200 rspamc -h 127.0.0.1:$normal -n 4 |
    awk -v fold=$fold -v folds="$dir/folds.tsv" '
      BEGIN { FS = "\t"; while ((getline l < folds) > 0) { split(l, a, "\t"); class[a[3]] = a[2] }; FS = " " }
      function flush() { if (file != "") printf "%s\t%s\t%s\t%s\t%s\t%s\n", fold, class[file],
        (action == "no action" ? "ham" : "spam"), score, file, symbols; file = ""; symbols = "" }
      /^Results for file: / { flush(); file = $4 }
      /^Action: / { sub(/^Action: /, ""); action = $0 }
      /^Score: / { score = $2 }
      /^Symbol: / { symbols = symbols $2 " " }
      END { flush() }' >>"$out"
  kill "$(cat "$work/run/rspamd.pid")"
  for _ in $(seq 100); do [ -e "$work/run/rspamd.pid" ] || break; sleep 0.1; done
done
