#!/bin/sh
# One-shot (compose service temporal-schema): creates Temporal's two PostgreSQL databases and
# brings their schemas to this admin-tools image's version. Safe to run on every start:
# `create` tolerates an existing database and `update-schema` applies only missing versions.
set -eu
: "${POSTGRES_USER:?}" "${POSTGRES_PASSWORD:?}"
export SQL_PASSWORD="$POSTGRES_PASSWORD"
schema=/etc/temporal/schema/postgresql/v12
tool() { temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u "$POSTGRES_USER" "$@"; }
for db in temporal:temporal temporal_visibility:visibility; do
  name=${db%%:*}
  dir=${db##*:}
  tool --db "$name" create || echo "database $name exists"
  tool --db "$name" setup-schema -v 0.0 || echo "schema of $name already set up"
  tool --db "$name" update-schema -d "$schema/$dir/versioned"
done
echo "Temporal schema is current"
