#!/usr/bin/env bash
# Unpacks the corpus into DIR and writes DIR/folds.tsv: each message's fold (0-4, dealt in
# turn within each class after sorting by name, so every fold has the same mix) and class.
# Usage: bench/filter/folds.sh DIR
set -euo pipefail
dir=$1; corpus=$(cd "$(dirname "$0")/../.." && pwd)/tests/data/corpus/spamassassin-public-corpus.tar.gz
mkdir -p "$dir/corpus"
tar xzf "$corpus" -C "$dir/corpus"
: >"$dir/folds.tsv"
for class in ham spam; do
  case $class in ham) sets="easy-ham-1 easy-ham-2 hard-ham-1";; spam) sets="spam-1 spam-2";; esac
  for s in $sets; do ls "$dir/corpus/$s"/*.txt; done | sort |
    awk -v c=$class '{ printf "%d\t%s\t%s\n", (NR - 1) % 5, c, $0 }' >>"$dir/folds.tsv"
done
