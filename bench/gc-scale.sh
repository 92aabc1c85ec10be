#!/usr/bin/env bash
# gc, info and expire on a repository with many packs and ~100 backups (posix, encrypted,
# --pack-size 1): time and peak RSS of each command, on a real repository on disk.
#
# How the packs come about: a backup writes one pack per worker that stored anything (plus one
# per MiB), so BACKUPS backups with --jobs JOBS of a cluster where every backup finds more than
# JOBS changed files give up to BACKUPS x JOBS small packs (the defaults: ~150 a backup on 2
# cores, where not every worker gets a changed file before the others finish). The cluster holds pgbench -i -s SCALE
# and TABLES small tables; before each backup one row of every small table changes and pgbench
# runs 200 transactions. Backup i is taken with --now (day i), so a retention policy applies.
# Then, timed: info, info --json, expire --dry-run (--retention-daily 7d --retention-weekly 4w
# --retention-monthly 12m at the last day), gc with every pack referenced, expire (packs kept:
# --gc-grace 864000), gc marking the packs the expired backups held alone, gc deleting them.
#
# Usage: bench/gc-scale.sh [--backups 120] [--jobs 256] [--tables 1500] [--scale 10]
#                          [--pgvault BIN] [--keep]
# Runs as root; PostgreSQL and pgvault run as the OS user postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

backups=120 jobs=256 tables=1500 scale=10 pgvault_bin="" keep=no
while (($#)); do
  case $1 in
    --backups) backups=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --tables) tables=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --pgvault) pgvault_bin=$2; shift 2 ;;
    --keep) keep=yes; shift ;;
    -h | --help) sed -n '14,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gc-scale.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
((EUID == 0)) || { echo "gc-scale.sh: run as root (pgvault runs as postgres)" >&2; exit 1; }
t_begin=$(date +%s)
PGBIN=/usr/lib/postgresql/15/bin
# shellcheck source=scripts/lib.sh
source "$SRC/scripts/lib.sh"
bench_pgvault "$pgvault_bin"
make_workdir pgvault-gc-scale
port=$(free_port) pgdata=$work/pgdata repo=$work/repo key=$work/pgvault.key
head -c 32 /dev/urandom | base64 >"$key"
chown postgres:postgres "$key" && chmod 600 "$key"
PV=("$PGVAULT" --repo "$repo" --key-file "$key")
as_pg "${PV[@]}" repo-create --pack-size 1 >/dev/null
policy=(--retention-daily 7d --retention-weekly 4w --retention-monthly 12m)
day() { date -u -d "2026-01-01T02:00:00Z + $(($1 - 1)) days" +%Y-%m-%dT%H:%M:%SZ; }

bench_stamp "cluster: pgbench -i -s $scale and $tables small tables on 127.0.0.1:$port"
start_archiving_cluster "$pgdata" "$port" "${PV[*]} archive-push %p" "autovacuum = off" \
  "max_wal_size = 4GB"
psql_q() { as_pg psql -X -q -At -h "$work" -p "$port" -d postgres -c "$1"; }
as_pg "$PGBIN/pgbench" -h "$work" -p "$port" -i -s "$scale" -q postgres >"$work/pgbench-init.log" 2>&1
psql_q "DO \$\$ BEGIN FOR i IN 1..$tables LOOP
  EXECUTE format('CREATE TABLE small_%s AS SELECT g AS id, md5(g::text) AS note
                  FROM generate_series(1, 50) g', i);
END LOOP; END \$\$"
touch_tables="DO \$\$ BEGIN FOR i IN 1..$tables LOOP
  EXECUTE format('UPDATE small_%s SET note = md5(random()::text) WHERE id = 1 + (random() * 49)::int', i);
END LOOP; END \$\$"

bench_stamp "$backups backups (--jobs $jobs, --now day 1..$backups from $(day 1))"
for i in $(seq "$backups"); do
  if ((i > 1)); then
    psql_q "$touch_tables"
    as_pg env PGOPTIONS="-c synchronous_commit=off" "$PGBIN/pgbench" -h "$work" -p "$port" \
      -c 1 -t 200 postgres >/dev/null 2>&1
  fi
  as_pg "${PV[@]}" backup --pgdata "$pgdata" --pg-host "$work" --pg-port "$port" --jobs "$jobs" \
    --now "$(day "$i")" "${policy[@]}" >"$work/backup.out" 2>&1 || {
    cat "$work/backup.out" >&2; exit 1
  }
  if ((i % 10 == 0 || i == 1)); then
    echo "  backup $i: $(find "$repo/packs" -type f | wc -l) packs, $(du -sm "$repo" | cut -f1) MB"
  fi
done
packs=$(find "$repo/packs" -type f | wc -l)
echo "  repository: $packs packs ($(du -sm "$repo/packs" | cut -f1) MB), $(du -sm "$repo/backups" | cut -f1) MB of manifests, $(du -sm "$repo" | cut -f1) MB in all"

report() {  # report WHAT OUT [LINES]: WHAT, secs, peak RSS, and OUT's last LINES lines (default 1)
  printf '  %-40s %7.2f s %5s MiB   %s\n' "$1" "$secs" "$rss_mib" \
    "$(grep -v 'WARN' "$2" | tail -"${3:-1}" | paste -sd';' | sed 's/;/; /g')"
}
last=$(day "$backups")
bench_stamp "timed (each command once; the page cache is warm)"
measure "$work/info.out" "${PV[@]}" info
report "info ($backups backups)" "$work/info.out"
measure "$work/info-json.out" "${PV[@]}" info --json
report "info --json" /dev/null
measure "$work/dry.out" "${PV[@]}" expire --dry-run --now "$last" "${policy[@]}"
report "expire --dry-run" "$work/dry.out"
measure "$work/gc-all-live.out" "${PV[@]}" gc --gc-grace 0
report "gc, every pack referenced" "$work/gc-all-live.out" 3
measure "$work/expire.out" "${PV[@]}" expire --now "$last" --gc-grace 864000 "${policy[@]}"
report "expire ($(grep -c '^expired backup' "$work/expire.out" || true) backups, packs kept)" "$work/expire.out"
measure "$work/gc-mark.out" "${PV[@]}" gc --gc-grace 0
report "gc, marking" "$work/gc-mark.out" 3
measure "$work/gc-delete.out" "${PV[@]}" gc --gc-grace 0
report "gc, deleting" "$work/gc-delete.out" 3
echo "  after: $(find "$repo/packs" -type f | wc -l) packs, $(du -sm "$repo" | cut -f1) MB"
measure "$work/verify.out" "${PV[@]}" verify
report "verify (what is left)" "$work/verify.out"
bench_stamp "done (load $(cut -d' ' -f1-3 /proc/loadavg))"
