#!/usr/bin/env bash
# pgvault's main job, end to end, on the embedded default: a throw-away PostgreSQL 15 cluster and
# a local encrypted repository in a scratch directory. Backup while data changes, archive WAL,
# restore into an empty directory, start the copy and show that its data matches.
# Usage: scripts/demo.sh [--keep]     (run as root; PostgreSQL runs as the OS user postgres)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=${1:-}
PGBIN=/usr/lib/postgresql/15/bin

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build pgvault >/dev/null
PGVAULT=$PWD/build/pgvault

work=$(mktemp -d /tmp/pgvault-demo.XXXXXX)
chmod 755 "$work"
chown postgres:postgres "$work"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
cleanup() {
  stop_cluster "$work/restored" || true
  stop_cluster "$work/source" || true
  [[ $keep == --keep ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

repo=$work/repo
key=$work/repo.key
port=$(free_port)
echo "== 1. a PostgreSQL 15 cluster on 127.0.0.1:$port with archive_command = pgvault archive-push"
init_cluster "$work/source" "$port" "$PGVAULT --repo $repo --key-file $key archive-push %p"
start_cluster "$work/source" "$work/source.log"
psql_src() { as_pg psql -X -q -At -h 127.0.0.1 -p "$port" -d postgres -c "$1"; }

echo "== 2. an encrypted repository (AES-256-GCM, the key file is made for us)"
as_pg "$PGVAULT" --repo "$repo" --key-file "$key" repo-create

echo "== 3. pgbench data, then a backup while pgbench writes"
as_pg "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -i -s 5 -q postgres >/dev/null 2>&1
as_pg "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -c 2 -T 8 postgres >/dev/null 2>&1 &
bench=$!
as_pg "$PGVAULT" --repo "$repo" --key-file "$key" backup --pgdata "$work/source" --pg-host 127.0.0.1 --pg-port "$port"
wait $bench
psql_src "CREATE TABLE demo_marker(note text); INSERT INTO demo_marker VALUES ('written after the backup')"
psql_src "SELECT pg_switch_wal()" >/dev/null
tables="pgbench_accounts pgbench_branches pgbench_tellers pgbench_history demo_marker"
checksums() {  # row count and md5 of every table, in a stable order
  local t
  for t in $tables; do
    as_pg psql -X -At -h 127.0.0.1 -p "$1" -d postgres \
      -c "SELECT '$t', count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM $t x"
  done
}
# Wait until the last segment is archived, then record the source's content.
last=$(psql_src "SELECT pg_walfile_name(pg_current_wal_lsn())")
for _ in $(seq 100); do
  [[ $(psql_src "SELECT coalesce(last_archived_wal, '') >= '$last' FROM pg_stat_archiver") == t ]] && break
  psql_src "SELECT pg_switch_wal()" >/dev/null; sleep 0.2
done
source_sums=$(checksums "$port")

echo "== 4. the repository"
as_pg "$PGVAULT" --repo "$repo" --key-file "$key" info

echo "== 5. restore into an empty directory and start it: it replays the archived WAL"
as_pg "$PGVAULT" --repo "$repo" --key-file "$key" restore --pgdata "$work/restored"
rport=$(free_port)
cat >>"$work/restored/postgresql.auto.conf" <<CONF
port = $rport
archive_mode = off
CONF
as_pg "$PGBIN/pg_ctl" -D "$work/restored" -l "$work/restored.log" -w -t 120 start >/dev/null
for _ in $(seq 300); do
  [[ $(as_pg psql -X -At -h 127.0.0.1 -p "$rport" -d postgres -c "SELECT pg_is_in_recovery()") == f ]] && break
  sleep 0.2
done
restored_sums=$(checksums "$rport")

echo "== 6. source and restored copy, table by table (rows, md5 of all rows)"
paste -d' ' <(echo "$source_sums" | tr '|' ' ') <(echo "$restored_sums" | awk -F'|' '{print "| restored:", $2, $3}')
if [[ "$source_sums" == "$restored_sums" ]]; then
  echo "OK: the restored cluster matches the source exactly"
else
  echo "MISMATCH: the restored cluster differs from the source" >&2
  exit 1
fi
