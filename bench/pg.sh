# Sourced by the benchmarks that need PostgreSQL: starts a throwaway cluster in its own
# directory under /tmp (reachable by the postgres user, whom it runs as when we are root) on a
# free port of 127.0.0.1, and defines
#   PGDIR, PGPORT, PGBIN, PGPID, as_pg CMD..., pg_createdb NAME, pg_url NAME, pg_pids
# The caller's EXIT trap should `kill -INT $PGPID` and remove $PGDIR.
as_pg() {
  if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups "$@"; else "$@"; fi
}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGDIR=$(mktemp -d /tmp/mailkeep-pg.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDIR"
as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 >/dev/null
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PGBIN/postgres" -D "$PGDIR/data" -p "$PGPORT" -k "$PGDIR" -c listen_addresses=127.0.0.1 \
  -c max_connections=300 >"$PGDIR/log" 2>&1 & PGPID=$!
for _ in $(seq 100); do as_pg "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.1; done
# The postmaster itself (as root, $! is the shell that runs as_pg, which a signal does not stop).
PGPID=$(head -1 "$PGDIR/data/postmaster.pid")
pg_createdb() { as_pg "$PGBIN/psql" -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c "CREATE DATABASE $1" >/dev/null; }
pg_url() { echo "postgres://postgres@127.0.0.1:$PGPORT/$1"; }
pg_pids() { pgrep -f "postgres: |$PGBIN/postgres -D $PGDIR" | tr '\n' ' '; }
