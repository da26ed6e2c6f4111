#!/usr/bin/env bash
# Crash soak: tests/e2e/torture.py against the release binary, SIGKILL rounds until Ctrl-C (or
# ROUNDS), printing rounds, acknowledged operations and losses (which must stay 0).
# Usage: bench/soak.sh [ROUNDS]   (needs the test venv: ./.ci/run makes it, or
#        python3 -m venv .venv && .venv/bin/pip install pytest)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p mailkeep
BIN=$(mktemp -d)/mailkeep
cp target/release/mailkeep "$BIN"   # a rebuild during the soak does not swap it
MAILKEEP_BIN=$BIN MAILKEEP_DNS_RESOLVER=none exec .venv/bin/python tests/e2e/torture.py --rounds "${1:-0}"
