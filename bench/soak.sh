#!/usr/bin/env bash
# Crash soak: tests/e2e/torture.py against the release binary, SIGKILL rounds until Ctrl-C (or
# ROUNDS), printing rounds, acknowledged operations and losses (which must stay 0).
# Usage: bench/soak.sh [ROUNDS] [--power-cut]   (needs the test venv: ./.ci/run makes it, or
#        python3 -m venv .venv && .venv/bin/pip install pytest). With --power-cut (root and
#        /dev/fuse) each kill is followed by a power cut: writes not yet fsynced are lost.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p mailkeep -p mailkeep-powercut
BIN=$(mktemp -d)/mailkeep
# Copies, so that a rebuild during the soak does not swap them.
cp target/release/mailkeep "$BIN"
cp target/release/mailkeep-powercut "$(dirname "$BIN")/"
MAILKEEP_BIN=$BIN MAILKEEP_DNS_RESOLVER=none exec .venv/bin/python tests/e2e/torture.py --rounds "${1:-0}" "${@:2}"
