#!/usr/bin/env bash
# Mixed IMAP load, mailkeep against Debian's Dovecot 2.3 on the same machine in the same run:
# USERS users (default 100) with MESSAGES messages each (default 200), CLIENTS concurrent
# IMAPS clients (default 12) for SECS seconds per run (default 20), each logging in as a
# random user, working INBOX (flags, envelopes, a body, flag and keyword changes, an APPEND it
# deletes and expunges) and logging out; then the same without logins. Prints commands/s,
# LOGIN p50/p99 and errors of each, and mailkeep's ratio to Dovecot.
# Usage: bench/run-mixed.sh [USERS [MESSAGES [CLIENTS [SECS]]]]; needs root and dovecot-imapd
# (apt-get install dovecot-imapd; its service need not run). MAILKEEP_BIN=other/binary runs
# another build under the same load.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-100}; MESSAGES=${2:-200}; CLIENTS=${3:-12}; SECS=${4:-20}
command -v dovecot >/dev/null || { echo "dovecot not installed: apt-get install dovecot-imapd" >&2; exit 1; }
cargo build --release -q -p mailkeep -p mailkeep-bench
BIN=${MAILKEEP_BIN:-target/release/mailkeep}; BENCH=$PWD/target/release/mailkeep-bench
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/bench-mixed.XXXXXX")
chmod 755 "$WORK"
PID=; DPID=
trap 'kill $PID $DPID 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
PASS=bench-password-123; DOMAIN=bench.test

# mailkeep
DATA=$WORK/data
$BIN --data "$DATA" init --domain $DOMAIN >/dev/null
sed -i 's/"127.0.0.1:2525"/"127.0.0.1:13525"/; s/"127.0.0.1:2587"/"127.0.0.1:13587"/; s/"127.0.0.1:2465"/"127.0.0.1:13465"/; s/"127.0.0.1:2143"/"127.0.0.1:13143"/; s/"127.0.0.1:2993"/"127.0.0.1:13993"/' "$DATA/mailkeep.toml"
# All the load comes from one address: the per-address limits that stop a password guesser
# or a connection flood from one place would stop the benchmark.
sed -i "s/^max_failures_per_ip = .*/max_failures_per_ip = 100000/; s/^max_connections_per_ip = .*/max_connections_per_ip = 10000/" "$DATA/mailkeep.toml"
$BENCH mbox --out "$WORK/box.mbox" --count "$MESSAGES" --size 3000
for n in $(seq "$USERS"); do
  echo "$PASS" | $BIN --data "$DATA" user add "user$n@$DOMAIN" --password-stdin >/dev/null
  MAILKEEP_LOG=warn $BIN --data "$DATA" import --account "user$n@$DOMAIN" "$WORK/box.mbox" >/dev/null
done

# Dovecot: the same users and messages; passwords in SHA512-CRYPT, the scheme Dovecot's own
# documentation configures (Argon2 with libsodium's interactive cost takes ~270 ms a login
# here, and Dovecot 2.3's auth cache keeps the hash, not the verification); Debian's defaults
# otherwise (one imap-login process per connection).
DV=$WORK/dovecot
mkdir -p "$DV/run" "$DV/state" "$DV/home"
HASH=$(doveadm pw -s SHA512-CRYPT -p "$PASS")
for n in $(seq "$USERS"); do echo "user$n@$DOMAIN:$HASH"; done > "$DV/passwd"
python3 - "$WORK/box.mbox" "$DV/home" "$USERS" "$DOMAIN" <<'PY'
import mailbox, sys, os
src, home, users, domain = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
msgs = [bytes(m) for m in mailbox.mbox(src)]
for n in range(1, users + 1):
    os.makedirs(os.path.join(home, f"user{n}@{domain}"))
    md = mailbox.Maildir(os.path.join(home, f"user{n}@{domain}", "Maildir"), create=True)
    for m in msgs:
        md.add(m)
PY
chown -R dovecot:dovecot "$DV/home"
cat > "$DV/dovecot.conf" <<CONF
base_dir = $DV/run
state_dir = $DV/state
log_path = $DV/log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <$DATA/keys/tls-cert.pem
ssl_key = <$DATA/keys/tls-key.pem
auth_mechanisms = plain
auth_cache_size = 10M
auth_cache_ttl = 600s
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT $DV/passwd
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$DV/home/%u
}
mail_location = maildir:~/Maildir
first_valid_uid = $(id -u dovecot)
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = 14993
  }
}
CONF

ulimit -n 65536 2>/dev/null || true
MAILKEEP_DNS_RESOLVER=none MAILKEEP_LOG=warn $BIN --data "$DATA" serve & PID=$!
dovecot -F -c "$DV/dovecot.conf" & DPID=$!
for port in 13993 14993; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

load() { # label port rounds
  $BENCH mixed --addr 127.0.0.1:$2 --cert "$DATA/keys/tls-cert.pem" --domain $DOMAIN \
    --users "$USERS" --password "$PASS" --clients "$CLIENTS" --secs "$SECS" --rounds "$3" --label "$1"
}
# Warm both (caches, login processes), then measure each twice, interleaved.
load warm-mailkeep 13993 1 >/dev/null; load warm-dovecot 14993 1 >/dev/null
OUT=$WORK/results
for i in 1 2; do
  load mailkeep-logins 13993 1 | tee -a "$OUT"
  load dovecot-logins 14993 1 | tee -a "$OUT"
  load mailkeep-sessions 13993 0 | tee -a "$OUT"
  load dovecot-sessions 14993 0 | tee -a "$OUT"
done
python3 - "$OUT" <<'PY'
import re, sys, collections
rates = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r"mixed (\S+)-(logins|sessions): (\d+) commands/s", line)
    if m:
        rates[(m.group(1), m.group(2))].append(int(m.group(3)))
for mode in ("logins", "sessions"):
    mk, dv = sum(rates[("mailkeep", mode)]), sum(rates[("dovecot", mode)])
    if dv:
        print(f"ratio {mode}: mailkeep/dovecot = {mk / dv:.2f}x")
PY
