#!/usr/bin/env bash
# Spam verdicts side by side: mailkeep, SpamAssassin and rspamd on the same 5 folds of the
# corpus in tests/data/corpus (ham: easy-ham-1/2, hard-ham-1; spam: spam-1/2). Each learns
# four folds and judges the fifth, five times. Everything runs in a network namespace with
# only loopback, so nothing leaves the machine. Needs spamassassin, spamc, rspamd,
# redis-server (Debian packages).
# Usage: bench/filter/run.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p mailkeep-bench
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/filter-bench.XXXXXX")}
bench/filter/folds.sh "$WORK"
chmod -R a+rX "$WORK"
unshare -n sh -c "ip link set lo up
  target/release/mailkeep-bench filter --folds '$WORK/folds.tsv' --out '$WORK/mailkeep.tsv'
  bench/filter/spamassassin.sh '$WORK'
  bench/filter/rspamd.sh '$WORK'"
echo
for engine in mailkeep spamassassin rspamd; do
  awk -F'\t' -v name=$engine '
    $2 == "spam" && $3 == "spam" { tp++ } $2 == "spam" && $3 != "spam" { fn++ }
    $2 == "ham" && $3 == "spam" { fp++ } $2 == "ham" && $3 != "spam" { tn++ } $3 == "error" { err++ }
    END { p = tp / (tp + fp); r = tp / (tp + fn); f1 = 2 * p * r / (p + r)
      printf "%-12s spam caught %4d missed %4d | ham kept %4d flagged %3d | precision %.4f recall %.4f F1 %.4f FP rate %.3f%%%s\n",
        name, tp, fn, tn, fp, p, r, f1, 100 * fp / (fp + tn), (err ? " (" err " errors)" : "") }' "$WORK/$engine.tsv"
done
echo "per-message results: $WORK/{mailkeep,spamassassin,rspamd}.tsv"
