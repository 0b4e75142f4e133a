#!/bin/sh
# archon-data-migrate: the Supabase roles (roles.sql, every run), then Archon's schema from the server image
# (SCHEMA_DIR/complete_setup.sql) when the database has none yet. Later schema changes are Archon's numbered
# migrations: the server's /health reports migration_required and the README says how to apply them.
# Environment: PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD (libpq), AUTHENTICATOR_PASSWORD, SQL_DIR, SCHEMA_DIR.
set -eu

tries=0
until pg_isready -q -t 5; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "archon-data-migrate: PostgreSQL at $PGHOST:$PGPORT is not ready after 5 minutes" >&2
    exit 1
  fi
  sleep 5
done

psql -X -q -v ON_ERROR_STOP=1 -v authenticator_password="$AUTHENTICATOR_PASSWORD" -f "$SQL_DIR/roles.sql"
echo "archon-data-migrate: roles and auth functions in place"

if [ "$(psql -X -tA -c "SELECT to_regclass('public.archon_settings') IS NOT NULL")" = "t" ]; then
  echo "archon-data-migrate: Archon's schema is already there; nothing to apply"
  exit 0
fi
if [ ! -f "$SCHEMA_DIR/complete_setup.sql" ]; then
  echo "archon-data-migrate: $SCHEMA_DIR/complete_setup.sql is missing: the server image must hold Archon's migration/ folder" >&2
  exit 1
fi
psql -X -q -v ON_ERROR_STOP=1 -1 -f "$SCHEMA_DIR/complete_setup.sql"
# What the schema created is the service role's too (default privileges covered new objects; this covers all).
psql -X -q -v ON_ERROR_STOP=1 -v authenticator_password="$AUTHENTICATOR_PASSWORD" -f "$SQL_DIR/roles.sql"
echo "archon-data-migrate: Archon's schema applied"
