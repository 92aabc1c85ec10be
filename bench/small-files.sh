#!/usr/bin/env bash
# Restore against backup for many small files: a throw-away PostgreSQL 15 cluster with N tables
# of one row each (heap, primary key, TOAST table and TOAST index: four small files per table),
# one full backup, one restore into an empty directory; prints both wall times and their ratio.
# See docs/benchmarks.md ("Many small files").
#
# Usage: bench/small-files.sh [--tables 20000] [--jobs 2] [--pgvault BIN] [--keep]
# Runs as root; PostgreSQL and pgvault run as the OS user postgres. Without --pgvault it uses
# build/pgvault (build it first, see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

tables=20000 jobs=2 keep=no pgvault_bin=$SRC/build/pgvault
usage() { sed -n '7,9p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --tables) tables=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --pgvault) pgvault_bin=$2; shift 2 ;;
    --keep) keep=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "small-files.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
((EUID == 0)) || { echo "small-files.sh: run as root (the tools run as postgres)" >&2; exit 1; }
[[ -x $pgvault_bin ]] || { echo "small-files.sh: no pgvault binary '$pgvault_bin'" >&2; exit 1; }
PGVAULT=$(realpath "$pgvault_bin")
PGBIN=/usr/lib/postgresql/15/bin
# shellcheck source=scripts/lib.sh
source "$SRC/scripts/lib.sh"

make_workdir pgvault-small-files
pgdata=$work/pgdata repo=$work/repo key=$work/pgvault.key

port=$(free_port)
INITDB_FLAGS="" init_cluster "$pgdata" "$port" "$PGVAULT --repo $repo --key-file $key archive-push %p" \
  "autovacuum = off
fsync = off
max_wal_size = 4GB"
as_pg "$PGVAULT" --repo "$repo" --key-file "$key" repo-create >/dev/null
start_cluster "$pgdata" "$work/postgres.log"
psql_q() { as_pg psql -X -q -At -h "$work" -p "$port" -d postgres -c "$1"; }

echo "creating $tables tables ..."
for ((first = 1; first <= tables; first += 500)); do
  last=$((first + 499 < tables ? first + 499 : tables))
  psql_q "DO \$\$ BEGIN FOR i IN $first..$last LOOP
            EXECUTE format('CREATE TABLE t%s(id int PRIMARY KEY, v text); INSERT INTO t%s VALUES (1, %L)', i, i, 'x');
          END LOOP; END \$\$"
done
psql_q "CHECKPOINT"
files=$(find "$pgdata" -type f | wc -l)

measure "$work/backup.out" "$PGVAULT" --repo "$repo" --key-file "$key" backup --pgdata "$pgdata" \
  --pg-host "$work" --pg-port "$port" --jobs "$jobs" || exit 1
backup_secs=$secs backup_rss=$rss_mib
measure "$work/restore.out" "$PGVAULT" --repo "$repo" --key-file "$key" restore \
  --pgdata "$work/restored" --jobs "$jobs" || exit 1
restore_secs=$secs restore_rss=$rss_mib
restored=$(find "$work/restored" -type f | wc -l)

awk -v t="$tables" -v f="$files" -v r="$restored" -v b="$backup_secs" -v s="$restore_secs" \
  -v br="$backup_rss" -v rr="$restore_rss" -v j="$jobs" 'BEGIN {
  printf "tables %d, files in the cluster %d, files restored %d, --jobs %d\n", t, f, r, j
  printf "backup  %.2f s (%.2f s per 100k files), peak RSS %.0f MiB\n", b, b / f * 1e5, br
  printf "restore %.2f s (%.2f s per 100k files), peak RSS %.0f MiB\n", s, s / f * 1e5, rr
  printf "ratio   %.2f (restore / backup)\n", s / b }'
