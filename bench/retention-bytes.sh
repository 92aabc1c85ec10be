#!/usr/bin/env bash
# Repository bytes under a retention policy, day by day: pgvault and pgBackRest side by side on
# one throw-away PostgreSQL 15 cluster (pgbench -i -s SCALE). Each simulated day ~CHANGE % of the
# pgbench_accounts rows change (pgbench TPC-B transactions, one account each), then:
#   pgvault     backup --now DAY, expire --now DAY --gc-grace 0, gc --gc-grace 0, with
#               --retention-daily 7d --retention-weekly 4w --retention-pitr 7d;
#   pgBackRest  a full backup every 7th day (day 1, 8, ...), a diff on the others (bundling and
#               block incremental on), repo1-retention-full=4, repo1-retention-diff=6,
#               repo1-retention-archive-type=diff, repo1-retention-archive=7: the same 7 daily
#               restore points, 4 weekly ones and 7 days of continuous WAL (its expire runs after
#               each backup; it has no --now, and counts backups instead of dates).
# Both archive every WAL segment (one archive_command feeds both). The table shows each
# repository's bytes on disk after the day's expiry, split into backups and WAL.
#
# Usage: bench/retention-bytes.sh [--scale 30] [--days 30] [--change 1] [--jobs 2]
#                                 [--pack-size 32] [--autovacuum off|on] [--encrypt on|off]
#                                 [--pgvault BIN] [--pgbackrest BIN] [--keep]
# (--pack-size: pgvault's repo-create --pack-size, MiB.)
# Runs as root; PostgreSQL and both tools run as the OS user postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

scale=30 days=30 change=1 jobs=2 pack_size=32 autovacuum=off encrypt=on pgvault_bin="" br_bin="" keep=no
while (($#)); do
  case $1 in
    --scale) scale=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --change) change=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --pack-size) pack_size=$2; shift 2 ;;
    --autovacuum) autovacuum=$2; shift 2 ;;
    --encrypt) encrypt=$2; shift 2 ;;
    --pgvault) pgvault_bin=$2; shift 2 ;;
    --pgbackrest) br_bin=$2; shift 2 ;;
    --keep) keep=yes; shift ;;
    -h | --help) sed -n '15,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "retention-bytes.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ $encrypt == on || $encrypt == off ]] || { echo "retention-bytes.sh: --encrypt takes on or off" >&2; exit 2; }
[[ $autovacuum == on || $autovacuum == off ]] || { echo "retention-bytes.sh: --autovacuum takes on or off" >&2; exit 2; }
((EUID == 0)) || { echo "retention-bytes.sh: run as root (the tools run as postgres)" >&2; exit 1; }
br_bin=${br_bin:-$(realpath -m "$SRC/../shared/tools/pgbackrest-2.59.1")}
[[ -x $br_bin ]] || { echo "retention-bytes.sh: no pgBackRest at '$br_bin' (--pgbackrest BIN)" >&2; exit 1; }
t_begin=$(date +%s)
PGBIN=/usr/lib/postgresql/15/bin
# shellcheck source=scripts/lib.sh
source "$SRC/scripts/lib.sh"
bench_pgvault "$pgvault_bin"
make_workdir pgvault-retention-bytes
mkdir -p "$work/log" && chown postgres:postgres "$work/log"
port=$(free_port) pgdata=$work/pgdata pgv_repo=$work/pgvault-repo br_repo=$work/pgbackrest-repo
key=$work/pgvault.key br_conf=$work/pgbackrest.conf

policy=(--retention-daily 7d --retention-weekly 4w --retention-pitr 7d)
head -c 32 /dev/urandom | base64 >"$key"
chown postgres:postgres "$key" && chmod 600 "$key"
PV=("$PGVAULT" --repo "$pgv_repo" --key-file "$key")
if [[ $encrypt == on ]]; then
  pgv_cipher=aes-256-gcm br_cipher="repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=$(head -c 24 /dev/urandom | base64)"
else
  pgv_cipher=none br_cipher=""
fi
write_pgbackrest_conf "$br_conf" "repo1-path=$br_repo" "repo1-bundle=y" "repo1-block=y" \
  "repo1-retention-full-type=count" "repo1-retention-full=4" "repo1-retention-diff=6" \
  "repo1-retention-archive-type=diff" "repo1-retention-archive=7" "$br_cipher"
BR=("$br_bin" --config="$br_conf" --stanza=bench)

# archive_command feeds both repositories at once. pgBackRest's backup insists that
# archive_command contains "pgbackrest": the script's name does.
archive_sh=$work/archive-push-pgvault-and-pgbackrest.sh
cat >"$archive_sh" <<SCRIPT
#!/usr/bin/env bash
set -u
${PV[*]} archive-push "\$1" & a=\$!
${BR[*]} archive-push "\$1" & b=\$!
wait \$a; ra=\$?; wait \$b; rb=\$?
exit \$((ra || rb))
SCRIPT
chmod 755 "$archive_sh"

as_pg "${PV[@]}" --cipher "$pgv_cipher" repo-create --pack-size "$pack_size" >/dev/null
bench_stamp "settings"
cat <<EOF
  machine    : $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, load $(cut -d' ' -f1-3 /proc/loadavg)
  data       : pgbench -i -s $scale; each day pgbench -c 2 -t $((scale * change * 500)) (~$change % of the accounts rows); autovacuum $autovacuum
  pgvault    : $("$PGVAULT" version), cipher $pgv_cipher, jobs $jobs, pack size $pack_size MiB, ${policy[*]}
  pgBackRest : $(as_pg "$br_bin" version), $([[ $encrypt == on ]] && echo aes-256-cbc || echo no cipher), process-max $jobs, weekly full + daily diff, bundle + block
  work dir   : $work
EOF
start_archiving_cluster "$pgdata" "$port" "$archive_sh %p" "autovacuum = $autovacuum" "max_wal_size = 4GB"
psql_q() { as_pg psql -X -q -At -h "$work" -p "$port" -d postgres -c "$1"; }
as_pg "${BR[@]}" stanza-create >/dev/null
as_pg "$PGBIN/pgbench" -h "$work" -p "$port" -i -s "$scale" -q postgres >"$work/log/pgbench-init.log" 2>&1
psql_q "VACUUM ANALYZE"

bytes() { du -sb "$@" 2>/dev/null | awk '{s+=$1} END{print s+0}'; }
mb() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1e6}'; }
count_json() {  # count_json FILE EXPR: python3 expression over the JSON in FILE as j
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}

bench_stamp "$days days (pgvault: --now 02:00 UTC each day from 2026-11-01; pgBackRest: real time)"
printf '%4s %10s | %6s %8s %7s %8s %7s %7s | %7s %8s %7s %8s | %6s\n' day date "pgv bk" "backups" \
  "WAL" "total" "freed" "exp+gc" "br bk" "backups" "WAL" "total" "pgv/br"
summary=$work/days.tsv
: >"$summary"
for day in $(seq "$days"); do
  now=$(date -u -d "2026-11-01T02:00:00Z + $((day - 1)) days" +%Y-%m-%dT%H:%M:%SZ)
  if ((day > 1)); then
    as_pg env PGOPTIONS="-c synchronous_commit=off" "$PGBIN/pgbench" -h "$work" -p "$port" \
      -c 2 -j 2 -t $((scale * change * 500)) postgres >"$work/log/pgbench-$day.log" 2>&1
  fi
  measure "$work/log/pgvault-backup-$day" "${PV[@]}" backup --pgdata "$pgdata" --pg-host "$work" \
    --pg-port "$port" --jobs "$jobs" --now "$now" "${policy[@]}"
  before_expire=$(bytes "$pgv_repo")
  measure "$work/log/pgvault-expire-$day" "${PV[@]}" expire --now "$now" --gc-grace 0 "${policy[@]}"
  expire_secs=$secs
  measure "$work/log/pgvault-gc-$day" "${PV[@]}" gc --gc-grace 0
  expire_secs=$(awk -v a="$expire_secs" -v b="$secs" 'BEGIN{printf "%.2f", a+b}')
  freed=$((before_expire - $(bytes "$pgv_repo")))
  type='diff'
  (((day - 1) % 7 == 0)) && type='full'
  measure "$work/log/pgbackrest-$day" "${BR[@]}" backup --type="$type"
  psql_q "SELECT pg_switch_wal()" >/dev/null
  wait_for_archiver "$pgdata"
  as_pg "${PV[@]}" info --json >"$work/log/pgvault-info-$day.json"
  as_pg "${BR[@]}" info --output=json >"$work/log/pgbackrest-info-$day.json"
  pgv_n=$(count_json "$work/log/pgvault-info-$day.json" 'len(j["backups"])')
  br_n=$(count_json "$work/log/pgbackrest-info-$day.json" 'len(j[0]["backup"])')
  pgv_total=$(bytes "$pgv_repo") pgv_wal=$(bytes "$pgv_repo/wal")
  br_total=$(bytes "$br_repo") br_wal=$(bytes "$br_repo/archive")
  printf '%4s %10s | %6s %8s %7s %8s %7s %6ss | %7s %8s %7s %8s | %6s\n' "$day" "${now%%T*}" "$pgv_n" \
    "$(mb $((pgv_total - pgv_wal)))" "$(mb "$pgv_wal")" "$(mb "$pgv_total")" "$(mb "$freed")" "$expire_secs" \
    "$br_n $type" "$(mb $((br_total - br_wal)))" "$(mb "$br_wal")" "$(mb "$br_total")" \
    "$(awk -v a="$pgv_total" -v b="$br_total" 'BEGIN{printf "%.2f", a/b}')"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$day" "$pgv_n" "$pgv_total" "$pgv_wal" "$br_n" \
    "$br_total" "$br_wal" "$expire_secs" >>"$summary"
done
echo "  MB = 10^6 bytes on disk (du -sb); 'backups' = the repository without its WAL; 'freed' = what"
echo "  pgvault's expire + gc removed that day (backups and WAL)"
as_pg "${PV[@]}" gc --dry-run --gc-grace 0 | sed -n 2p | sed 's/^/  pgvault packs at the end: /'
as_pg "${PV[@]}" expire --now "$now" --dry-run "${policy[@]}" >"$work/log/pgvault-plan.txt"
echo "  pgvault's plan at the end (expire --dry-run):" && sed 's/^/    /' "$work/log/pgvault-plan.txt"
awk -F'\t' '{p+=$3; b+=$6; if ($3>pm) pm=$3; if ($6>bm) bm=$6; n++} END {
  printf "  mean over %d days: pgvault %.1f MB, pgBackRest %.1f MB (%.2fx); peak %.1f vs %.1f MB\n",
    n, p/n/1e6, b/n/1e6, p/b, pm/1e6, bm/1e6 }' "$summary"
bench_stamp "done (load $(cut -d' ' -f1-3 /proc/loadavg))"
