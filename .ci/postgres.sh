# Sourced by .ci/run: makes HOOKLINE_TEST_PG point at a PostgreSQL server that answers.
# 1. a server already listening on 127.0.0.1:5432 (trust auth, database `test`), else
# 2. PostgreSQL from Debian's packages, started as a throwaway cluster on 127.0.0.1:55432.
# Fails (returns non-zero) if neither works: the PostgreSQL suite must not be skipped in CI.

hookline_pg_up() {
  psql "$1" -qtAc 'select 1' >/dev/null 2>&1
}

if [ -n "${HOOKLINE_TEST_PG:-}" ] && hookline_pg_up "$HOOKLINE_TEST_PG"; then
  echo "postgres: using HOOKLINE_TEST_PG from the environment"
elif command -v psql >/dev/null 2>&1 && hookline_pg_up "postgres://postgres@127.0.0.1:5432/test"; then
  export HOOKLINE_TEST_PG="postgres://postgres@127.0.0.1:5432/test"
  echo "postgres: using the local server at 127.0.0.1:5432"
else
  echo "postgres: no local server answers; starting a throwaway cluster"
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  HOOKLINE_PG_DIR=$(mktemp -d)
  chown postgres: "$HOOKLINE_PG_DIR"
  runuser -u postgres -- "$PGBIN/initdb" -D "$HOOKLINE_PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$HOOKLINE_PG_DIR/data" -l "$HOOKLINE_PG_DIR/pg.log" -w \
    -o "-p 55432 -k $HOOKLINE_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  trap 'runuser -u postgres -- "$PGBIN/pg_ctl" -D "$HOOKLINE_PG_DIR/data" -m fast stop >/dev/null; rm -rf "$HOOKLINE_PG_DIR"' EXIT
  psql "postgres://postgres@127.0.0.1:55432/postgres" -qc 'create database test'
  export HOOKLINE_TEST_PG="postgres://postgres@127.0.0.1:55432/test"
fi
hookline_pg_up "$HOOKLINE_TEST_PG" || { echo "postgres: $HOOKLINE_TEST_PG does not answer" >&2; return 1; }
