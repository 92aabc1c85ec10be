#!/usr/bin/env bash
# Writes test/fixtures/repo-format1/: a small encrypted repository (one backup of a fresh cluster
# with a known table, and the WAL it needs), made by the pgvault binary given as $1. It is made
# once, by the release whose format it freezes, and checked in; FixtureRepoTest restores it with
# every later build, so a repository written before a change still restores after it.
# Usage (as root): bash scripts/make-fixture-repo.sh build/pgvault
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bin=$(readlink -f "$1")
out=test/fixtures/repo-format1
work=$(mktemp -d /tmp/pgvault-fixture.XXXXXX)
chown postgres: "$work"
trap 'stop_cluster "$work/pg"; rm -rf "$work"' EXIT

port=$(free_port)
as_pg head -c 32 /dev/urandom | base64 > "$work/key"
chown postgres: "$work/key"; chmod 600 "$work/key"
vault="$bin --repo $work/repo --key-file $work/key"
as_pg $vault repo-create
as_pg /usr/lib/postgresql/15/bin/initdb --data-checksums -A trust -U postgres -D "$work/pg" >/dev/null
cat >> "$work/pg/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
archive_mode = on
archive_command = '$vault archive-push %p'
CONF
as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$work/pg" -l "$work/pg.log" -w start >/dev/null
psql=(as_pg psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE TABLE fixture(id int PRIMARY KEY, note text);
  INSERT INTO fixture SELECT g, md5(g::text) FROM generate_series(1, 5000) g;"
as_pg $vault backup --pgdata "$work/pg" --pg-host 127.0.0.1 --pg-port "$port"
"${psql[@]}" -c "SELECT pg_switch_wal()" >/dev/null
expected=$("${psql[@]}" -At -c "SELECT count(*) || ' ' || md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM fixture")
stop_cluster "$work/pg"

rm -rf "$out"; mkdir -p "$out"
cp -a "$work/repo" "$out/repo"
cp "$work/key" "$out/key"
echo "$expected" > "$out/expected"
"$bin" version > "$out/made-by"
git rev-parse --short HEAD >> "$out/made-by"
du -sh "$out"
