#!/usr/bin/env bash
# SpamAssassin on the folds of bench/filter/folds.sh: for each fold, a fresh Bayes database
# learns the other folds (sa-learn), then spamd judges this fold (spamc). Every network test
# is off (no DNS, RBLs, Razor, Pyzor, DCC); run.sh runs this in a namespace with only
# loopback. Writes DIR/spamassassin.tsv (fold class verdict score path).
# Usage: bench/filter/spamassassin.sh DIR
set -euo pipefail
dir=$(cd "$1" && pwd); work=$dir/sa; out=$dir/spamassassin.tsv
rm -rf "$work"; mkdir -p "$work"
: >"$out"
port=37830
for fold in 0 1 2 3 4; do
  site=$work/site$fold
  mkdir -p "$site" "$work/bayes$fold"
  cp /etc/spamassassin/*.pre "$site/"
  cat >"$site/local.cf" <<EOF
use_bayes 1
bayes_auto_learn 0
bayes_path $work/bayes$fold/bayes
bayes_file_mode 0777
dns_available no
skip_rbl_checks 1
use_razor2 0
use_pyzor 0
EOF
  chown -R nobody "$work"
  for class in spam ham; do
    awk -F'\t' -v f=$fold -v c=$class '$1 != f && $2 == c { print $3 }' "$dir/folds.tsv" |
      runuser -u nobody -- env HOME="$work" xargs -n 400 sa-learn --siteconfigpath "$site" \
        --no-sync --$class >/dev/null
  done
  runuser -u nobody -- env HOME="$work" sa-learn --siteconfigpath "$site" --sync >/dev/null
  runuser -u nobody -- env HOME="$work" sa-learn --siteconfigpath "$site" --dump magic |
    grep -E "nspam|nham" | tr -s ' ' | sed "s/^/fold $fold: /" >&2
  spamd -L -x --siteconfigpath "$site" -i 127.0.0.1 -p $port -A 127.0.0.1 -m 2 \
    -u nobody --helper-home-dir="$work" -r "$work/spamd.pid" -s "$work/spamd.log" 2>/dev/null &
  for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
  awk -F'\t' -v f=$fold '$1 == f { print $2 "\t" $3 }' "$dir/folds.tsv" |
    xargs -P 2 -L 1 -d '\n' sh -c '
      class=${0%%	*}; path=${0#*	}
      score=$(spamc -x -d 127.0.0.1 -p '$port' -c <"$path"); rc=$?
      case $rc in 0) verdict=ham;; 1) verdict=spam;; *) verdict=error;; esac
      printf "%s\t%s\t%s\t%s\t%s\n" '$fold' "$class" "$verdict" "${score%%/*}" "$path"' >>"$out"
  kill "$(cat "$work/spamd.pid")"; wait
done
