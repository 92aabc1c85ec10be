#!/usr/bin/env bash
# The RTO a restore drill measures on a big cluster with a lot of WAL to replay (issue 11's
# report): pgbench -i -s SCALE, a backup, then pgbench load until WAL-MB of WAL was archived after
# it, then `pgvault drill` to the end of the WAL; prints restore / replay / checks seconds and RTO.
#
# Usage: bench/drill-rto.sh [--scale 100] [--wal-mb 1024] [--jobs 2] [--pgvault BIN] [--keep]
# Runs as root; PostgreSQL and pgvault run as the OS user postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
scale=100 wal_mb=1024 jobs=2 pgvault_bin="" keep=no
while (($#)); do
  case $1 in
    --scale) scale=$2; shift 2 ;;
    --wal-mb) wal_mb=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --pgvault) pgvault_bin=$2; shift 2 ;;
    --keep) keep=yes; shift ;;
    -h | --help) sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "drill-rto.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
((EUID == 0)) || { echo "drill-rto.sh: run as root (the tools run as postgres via runuser)" >&2; exit 1; }
t_begin=$(date +%s)
PGBIN=/usr/lib/postgresql/15/bin
# shellcheck source=scripts/lib.sh
source "$SRC/scripts/lib.sh"
bench_pgvault "$pgvault_bin"
make_workdir pgvault-drill-rto
port=$(free_port) pgdata=$work/pgdata repo=$work/repo key=$work/pgvault.key
head -c 32 /dev/urandom | base64 >"$key"
chown postgres:postgres "$key" && chmod 600 "$key"
as_pg "$PGVAULT" --repo "$repo" --key-file "$key" repo-create >/dev/null
PV=("$PGVAULT" --repo "$repo" --key-file "$key")

bench_stamp "cluster: pgbench -i -s $scale on 127.0.0.1:$port"
init_cluster "$pgdata" "$port" "${PV[*]} archive-push %p" "max_wal_size = 4GB"
start_cluster "$pgdata" "$work/postgres.log"
psql_q() { as_pg psql -X -q -At -h "$work" -p "$port" -d postgres -c "$1"; }
as_pg "$PGBIN/pgbench" -h "$work" -p "$port" -i -s "$scale" -q postgres >/dev/null 2>&1

bench_stamp "backup"
as_pg "${PV[@]}" backup --pgdata "$pgdata" --pg-host "$work" --pg-port "$port" --jobs "$jobs" | tail -1
start_lsn=$(psql_q "SELECT pg_current_wal_lsn()")

bench_stamp "pgbench load until $wal_mb MB of WAL"
while :; do
  written=$(psql_q "SELECT (pg_current_wal_lsn() - '$start_lsn'::pg_lsn) / 1000000")
  ((${written%.*} >= wal_mb)) && break
  as_pg "$PGBIN/pgbench" -h "$work" -p "$port" -c 4 -j 2 -T 20 -n postgres >/dev/null 2>&1
done
psql_q "SELECT pg_switch_wal()" >/dev/null
for _ in $(seq 3000); do
  compgen -G "$pgdata/pg_wal/archive_status/*.ready" >/dev/null || break
  sleep 0.2
done
echo "  WAL after the backup: $(psql_q "SELECT (pg_current_wal_lsn() - '$start_lsn'::pg_lsn) / 1000000") MB"

bench_stamp "drill to the end of the WAL (jobs $jobs)"
mkdir -p "$work/tmp" && chown postgres:postgres "$work/tmp"
TMPDIR=$work/tmp as_pg "${PV[@]}" drill --jobs "$jobs" --json >"$work/drill.json" || true
python3 - "$work/drill.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["drill"]
print(f"  result {d['result']}: restore {d['restore_seconds']:.1f} s, WAL replay "
      f"{d['replay_seconds']:.1f} s, checks {d['checks_seconds']:.1f} s; "
      f"RTO {d['rto_seconds']:.1f} s (restore + replay)")
PY
bench_stamp "done (load $(cut -d' ' -f1-3 /proc/loadavg))"
