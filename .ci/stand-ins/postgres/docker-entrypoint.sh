#!/bin/sh
# First start: create the cluster, POSTGRES_USER and POSTGRES_DB (default: the user's name),
# as the public image does; then exec the command. `postgres ...` listens on every address.
set -eu
if [ "${1:-}" = postgres ]; then
  : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
  db=${POSTGRES_DB:-$POSTGRES_USER}
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [ "$db" != postgres ]; then
      createdb --username="$POSTGRES_USER" "$db"
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
  shift
  exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
