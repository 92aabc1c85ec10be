#!/usr/bin/env bash
# pgvault side by side with pgBackRest and pg_basebackup on one throw-away PostgreSQL 15 cluster.
# See docs/benchmarks.md for what is measured, how, and the results on the reference machine.
#
# Usage: bench/compare.sh [--scale S] [--runs N] [--jobs J] [--encrypt on|off]
#                         [--cache drop|warm] [--phases full,incr,restore,recovery,archive] [--keep]
#                         [--segments 200] [--pgbench-seconds 60] [--pgvault BIN (skips the build)]
#                         [--pgbackrest BIN ...]
# Runs as root; PostgreSQL and every tool run as the OS user postgres. pgBackRest: every --pgbackrest
# BIN gets its own column; without one, Debian's pgbackrest and, when present, the 2.59.1 build in
# ../shared/tools/ (its README says how it was built) run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

scale=30 runs=3 jobs=2 encrypt=on cache=drop phases=full,incr,restore,recovery,archive keep=no
segments=200 pgbench_seconds=60 pgvault_bin="" br_bins=()
usage() { sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --scale) scale=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --encrypt) encrypt=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --phases) phases=$2; shift 2 ;;
    --keep) keep=yes; shift ;;
    --segments) segments=$2; shift 2 ;;
    --pgbench-seconds) pgbench_seconds=$2; shift 2 ;;
    --pgvault) pgvault_bin=$2; shift 2 ;;
    --pgbackrest) br_bins+=("$2"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $encrypt == on || $encrypt == off ]] || { echo "compare.sh: --encrypt takes on or off" >&2; exit 2; }
[[ $cache == drop || $cache == warm ]] || { echo "compare.sh: --cache takes drop or warm" >&2; exit 2; }
((EUID == 0)) || { echo "compare.sh: run as root (the tools run as postgres via runuser)" >&2; exit 1; }
has_phase() { [[ ",$phases," == *",$1,"* ]]; }
t_begin=$(date +%s)

PGBIN=/usr/lib/postgresql/15/bin
bash scripts/install-deps.sh
# /usr/bin/time -v reports peak RSS; perf is for profiling a run by hand (docs/benchmarks.md).
extra=()
[[ -x /usr/bin/time ]] || extra+=(time)
command -v perf >/dev/null || extra+=(linux-perf)
if ((${#extra[@]})); then
  echo "installing: ${extra[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${extra[@]}" >/dev/null
fi

# shellcheck source=scripts/lib.sh
source "$SRC/scripts/lib.sh"
bench_pgvault "$pgvault_bin"
make_workdir pgvault-bench

port=$(free_port)
pgdata=$work/pgdata
pool=$work/walpool      # real WAL segments set aside for the archive-push test
key=$work/pgvault.key
pgv_link=$work/pgvault-repo   # symlink: the pgvault repository archive_command feeds right now
br_conf=$work/pgbackrest.conf
results=$work/results.tsv     # phase  tool  metric  run  value
: >"$results"
mkdir -p "$pool" "$work/log"
chown postgres:postgres "$pool" "$work/log"

if [[ $encrypt == on ]]; then
  pgv_cipher=aes-256-gcm br_cipher="repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=$(head -c 24 /dev/urandom | base64)"
else
  pgv_cipher=none br_cipher=""
fi
write_pgbackrest_conf "$br_conf" "repo1-retention-full=1000" "$br_cipher"

# Each pgBackRest version has its own repository. Versions with block incremental (2.46+) run
# with repo1-bundle and repo1-block on for every backup, full ones included, as its user guide
# recommends (block maps made by the full backup serve the incrementals).
if ((${#br_bins[@]} == 0)); then
  br_bins=(pgbackrest)
  shared_br=$(realpath -m "$SRC/../shared/tools/pgbackrest-2.59.1")
  if [[ -x $shared_br ]]; then
    br_bins+=("$shared_br")
  else
    echo "  (no $shared_br: pgBackRest 2.59.1 is not measured)"
  fi
fi
br_tags=() br_confs=()
for bin in "${br_bins[@]}"; do
  version=$(as_pg "$bin" version | awk '{print $2}')
  [[ -n $version ]] || { echo "compare.sh: '$bin version' printed nothing" >&2; exit 1; }
  br_tags+=("pgbackrest-$version")
  # Its own config file: options a command does not take are refused on the command line but
  # ignored in the file.
  conf=$work/pgbackrest-$((${#br_tags[@]} - 1)).conf
  cp -p "$br_conf" "$conf"
  if [[ $(printf '%s\n' 2.46 "$version" | sort -V | head -1) == 2.46 ]]; then
    sed -i 's/^\[global\]$/[global]\nrepo1-bundle=y\nrepo1-block=y/' "$conf"
  fi
  br_confs+=("$conf")
done
use_br() {  # use_br I [REPO]: BR, br_repo, br_tag for pgBackRest number I (REPO: another repository)
  br_repo=${2:-$work/pgbackrest-repo-$1} br_tag=${br_tags[$1]}
  BR=("${br_bins[$1]}" --config="${br_confs[$1]}" --stanza=bench --repo1-path="$br_repo")
}

# archive_command feeds both repositories at once (in parallel, so neither tool's backup waits
# for the other's archive-push) and sets the first $segments full segments aside.
# pgBackRest's backup insists that archive_command contains "pgbackrest": the script's name does.
archive_sh=$work/archive-push-pgvault-and-pgbackrest.sh
cat >"$archive_sh" <<SCRIPT
#!/usr/bin/env bash
set -u
pids=()
"$PGVAULT" --repo "$pgv_link" --key-file "$key" archive-push "\$1" & pids+=(\$!)
$(for i in "${!br_bins[@]}"; do
  echo "'${br_bins[$i]}' --config='${br_confs[$i]}' --stanza=bench --repo1-path='$work/pgbackrest-repo-$i' archive-push \"\$1\" & pids+=(\$!)"
done)
rc=0
for pid in "\${pids[@]}"; do wait \$pid || rc=1; done
if [[ \$2 =~ ^[0-9A-F]{24}\$ ]] && (( \$(ls "$pool" | wc -l) < $segments )); then
  cp "\$1" "$pool/.\$2" && mv "$pool/.\$2" "$pool/\$2"
fi
exit \$rc
SCRIPT
chmod 755 "$archive_sh"

# ---------------------------------------------------------------------------------------------
bench_stamp "settings"
cat <<EOF
  machine      : $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, load $(cut -d' ' -f1-3 /proc/loadavg)
  data         : pgbench -i -s $scale, PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), initdb --data-checksums, autovacuum off
  parallelism  : pgvault --jobs $jobs, pgBackRest process-max=$jobs, pg_basebackup 1 process (it has no option)
  compression  : pgvault zstd level 3 (level 3 parameters; match finder lazy for 64 KiB blocks, fast for WAL segments), pgBackRest compress-type=zst level 3 (2.46+: bundle + block incremental), pg_basebackup --compress=server-zstd:level=3,workers=$jobs
  encryption   : $encrypt (pgvault $pgv_cipher with a key file; pgBackRest $([[ $encrypt == on ]] && echo aes-256-cbc with a passphrase || echo none); pg_basebackup has none)
  caches       : $([[ $cache == drop ]] && echo "sync; echo 3 > /proc/sys/vm/drop_caches before every timed run" || echo "one read pass over the data/repository before every timed run (page cache warm)")
  runs         : $runs per tool, alternating pgvault, pgBackRest, pg_basebackup in each round
  versions     : $("$PGVAULT" version), ${br_tags[*]}, pg_basebackup $("$PGBIN/pg_basebackup" --version | awk '{print $3}')
  work dir     : $work
EOF

bench_stamp "cluster: PostgreSQL 15 on 127.0.0.1:$port, archive_command feeds pgvault and pgBackRest"
init_cluster "$pgdata" "$port" "$archive_sh %p %f" "autovacuum = off
max_wal_size = 4GB"
start_cluster "$pgdata" "$work/log/postgres.log"
psql_q() { as_pg psql -X -q -At -h "$work" -p "$port" -d postgres -c "$1"; }

new_pgvault_repo() {  # new_pgvault_repo DIR: creates DIR and points archive_command at it
  as_pg "$PGVAULT" --repo "$1" --key-file "$key" --cipher "$pgv_cipher" repo-create >/dev/null
  ln -sfn "$1" "$work/.link" && mv -T "$work/.link" "$pgv_link"
}
new_pgvault_repo "$work/pgvault-base"
for i in "${!br_bins[@]}"; do use_br "$i"; as_pg "${BR[@]}" stanza-create >/dev/null; done

# Waits until every finished WAL segment is archived by both tools.
wait_archived() { wait_for_archiver "$pgdata" || exit 1; }
# Treats caches the same for every timed run. $@: what the run will read (warm mode only).
prepare_caches() {
  sync
  if [[ $cache == drop ]]; then
    echo 3 >/proc/sys/vm/drop_caches
  else
    local p
    for p in "$@"; do [[ -e $p ]] && find "$p" -type f -exec cat {} + >/dev/null 2>&1 || true; done
  fi
}
# PostgreSQL calls archive_command right after it wrote the segment: archive-push finds it in
# the page cache whatever --cache says, so the archive phases always start warm.
warm_pool() { sync; cat "$pool"/* >/dev/null; }
# timed TAG CMD...: measure (scripts/lib.sh) with its output in $work/log/TAG.out; exits on failure
timed() {
  local tag=$1
  shift
  measure "$work/log/$tag.out" "$@" || exit 1
}
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }
bytes() { du -sb "$@" | awk '{s+=$1} END{print s+0}'; }
pgv_bytes() { du -sb --exclude=wal "$1" | awk '{print $1}'; }  # the repository without its WAL
mb() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1e6}'; }
# shellcheck disable=SC2010  # backup labels are fixed-format names
br_labels() { ls "$br_repo/backup/bench" 2>/dev/null | grep -E '^[0-9]{8}-[0-9]{6}F' | sort || true; }
stats_of() {  # "cpu seconds: read 0.1, hash ..." -> record per stage
  local line
  line=$(grep '^cpu seconds:' "$1" || true)
  [[ -n $line ]] || return 0
  echo "$line" | sed 's/^cpu seconds: //; s/, /\n/g' | while read -r stage value; do
    record "$2" pgvault "cpu_$stage" "$3" "$value"
  done
}

bench_stamp "data: pgbench -i -s $scale"
as_pg "$PGBIN/pgbench" -h "$work" -p "$port" -i -s "$scale" -q postgres >"$work/log/pgbench-init.log" 2>&1
if has_phase archive; then
  # Real OLTP WAL for the archive-push test, set aside by archive_command. This pgbench skips
  # the commit fsync (PGOPTIONS) and a checkpoint every 2 s brings the full-page images a
  # production checkpoint cycle brings; without both, 200 segments took over 20 minutes here.
  while (($(ls "$pool" | wc -l) < segments)); do
    as_pg env PGOPTIONS="-c synchronous_commit=off" "$PGBIN/pgbench" -h "$work" -p "$port" \
      -c 2 -j 2 -T 10 postgres >/dev/null 2>&1 &
    walgen=$!
    while kill -0 "$walgen" 2>/dev/null; do psql_q "CHECKPOINT" || true; sleep 2; done
    wait "$walgen"
    psql_q "SELECT pg_switch_wal()" >/dev/null
    wait_archived
  done
  echo "  $(ls "$pool" | wc -l) WAL segments set aside ($(mb "$(bytes "$pool")") MB)"
fi
psql_q "VACUUM ANALYZE" && psql_q "CHECKPOINT"
db_bytes=$(bytes "$pgdata/base" "$pgdata/global")
echo "  data directory: $(mb "$(bytes "$pgdata")") MB ($(mb "$db_bytes") MB in base/ and global/)"

pgvault_backup() {  # pgvault_backup PHASE RUN REPO: one timed backup into REPO; records its time,
  # the bytes it added (left in b), its peak RSS and its --stats, as PHASE's run RUN
  local b0
  b0=$(pgv_bytes "$3")
  timed "$1-pgvault-$2" "$PGVAULT" --repo "$3" --key-file "$key" backup --pgdata "$pgdata" \
    --pg-host "$work" --pg-port "$port" --jobs "$jobs" --stats
  b=$(($(pgv_bytes "$3") - b0))
  record "$1" pgvault secs "$2" "$secs"; record "$1" pgvault bytes "$2" "$b"
  record "$1" pgvault rss_mib "$2" "$rss_mib"; stats_of "$work/log/$1-pgvault-$2.out" "$1" "$2"
  record_cpu "$1" pgvault "$2"
}
record_cpu() {  # record_cpu PHASE TOOL RUN: the last measure's CPU seconds, and per GB of the cluster
  record "$1" "$2" cpu_s "$3" "$cpu_s"
  record "$1" "$2" cpu_per_gb "$3" "$(awk -v c="$cpu_s" -v b="$db_bytes" 'BEGIN{printf "%.3f", c/(b/1e9)}')"
}

# ---------------------------------------------------------------------------------------------
last_pgv_full="" last_br_full=()
if has_phase full || has_phase incr || has_phase restore; then
  bench_stamp "1. full backup (each pgvault run into a new repository: it would deduplicate otherwise)"
  for run in $(seq "$runs"); do
    repo=$work/pgvault-full-$run
    new_pgvault_repo "$repo"
    psql_q "SELECT pg_switch_wal()" >/dev/null
    wait_archived
    prepare_caches "$pgdata"
    pgvault_backup full "$run" "$repo"
    echo "  run $run pgvault       ${secs}s $(mb "$b") MB rss ${rss_mib} MiB cpu ${cpu_s}s"
    last_pgv_full=$repo

    for i in "${!br_bins[@]}"; do
      use_br "$i"
      wait_archived
      prepare_caches "$pgdata"
      before=$(br_labels)
      timed "full-$br_tag-$run" "${BR[@]}" backup --type=full
      label=$(comm -13 <(echo "$before") <(br_labels) | tail -1)
      b=$(bytes "$br_repo/backup/bench/$label")
      record full "$br_tag" secs "$run" "$secs"; record full "$br_tag" bytes "$run" "$b"
      record full "$br_tag" rss_mib "$run" "$rss_mib"; record_cpu full "$br_tag" "$run"
      printf '  run %s %-17s %ss %s MB rss %s MiB cpu %ss (%s)\n' "$run" "$br_tag" "$secs" "$(mb "$b")" "$rss_mib" "$cpu_s" "$label"
      last_br_full[$i]=$label
    done

    wait_archived
    prepare_caches "$pgdata"
    dir=$work/basebackup-$run
    timed "full-basebackup-$run" "$PGBIN/pg_basebackup" -h "$work" -p "$port" -D "$dir" -Ft \
      --compress="server-zstd:level=3,workers=$jobs" -X none -c fast
    b=$(bytes "$dir")
    record full pg_basebackup secs "$run" "$secs"; record full pg_basebackup bytes "$run" "$b"
    record full pg_basebackup rss_mib "$run" "$rss_mib"
    echo "  run $run pg_basebackup ${secs}s $(mb "$b") MB rss ${rss_mib} MiB"
    rm -rf "$dir"
  done
fi

# ---------------------------------------------------------------------------------------------
if has_phase incr; then
  bench_stamp "2. after pgbench -T $pgbench_seconds -c 2: pgvault's next backup vs pgBackRest incr and diff"
  as_pg "$PGBIN/pgbench" -h "$work" -p "$port" -c 2 -j 2 -T "$pgbench_seconds" postgres \
    >"$work/log/pgbench-run.log" 2>&1
  echo "  pgbench: $(grep -m1 '^tps' "$work/log/pgbench-run.log" | cut -d'(' -f1)"
  psql_q "CHECKPOINT"
  for run in $(seq "$runs"); do
    # Each run starts from a copy of the repository that holds only the full backup.
    repo=$work/pgvault-incr-$run
    cp -a "$last_pgv_full" "$repo"
    ln -sfn "$repo" "$work/.link" && mv -T "$work/.link" "$pgv_link"
    psql_q "SELECT pg_switch_wal()" >/dev/null
    wait_archived
    prepare_caches "$pgdata"
    pgvault_backup incr "$run" "$repo"
    echo "  run $run pgvault         ${secs}s +$(mb "$b") MB rss ${rss_mib} MiB"
    ln -sfn "$last_pgv_full" "$work/.link" && mv -T "$work/.link" "$pgv_link"
    wait_archived
    # The WAL archived into the copy meanwhile belongs to the full backup's repository too (same
    # keys: the copy is a copy), or recovery (phase 5) would find a gap.
    cp -an "$repo/wal/." "$last_pgv_full/wal/"
    rm -rf "$repo"

    for i in "${!br_bins[@]}"; do
      use_br "$i"
      for type in incr diff; do
        # The set is expired afterwards so that every run starts from the same full backup.
        wait_archived
        prepare_caches "$pgdata"
        before=$(br_labels)
        b0=$(bytes "$br_repo/backup")
        timed "$type-$br_tag-$run" "${BR[@]}" backup --type="$type"
        b=$(($(bytes "$br_repo/backup") - b0))
        label=$(comm -13 <(echo "$before") <(br_labels) | tail -1)
        record incr "$br_tag-$type" secs "$run" "$secs"; record incr "$br_tag-$type" bytes "$run" "$b"
        record incr "$br_tag-$type" rss_mib "$run" "$rss_mib"
        printf '  run %s %-17s %-4s %ss +%s MB rss %s MiB\n' "$run" "$br_tag" "$type" "$secs" "$(mb "$b")" "$rss_mib"
        as_pg "${BR[@]}" expire --set="$label" >/dev/null 2>&1
      done
    done
  done
fi

# ---------------------------------------------------------------------------------------------
if has_phase restore; then
  bench_stamp "3. restore of the full backup into an empty directory"
  for run in $(seq "$runs"); do
    dir=$work/restore-pgvault
    prepare_caches "$last_pgv_full"
    timed "restore-pgvault-$run" "$PGVAULT" --repo "$last_pgv_full" --key-file "$key" restore \
      --pgdata "$dir" --jobs "$jobs"
    record restore pgvault secs "$run" "$secs"; record restore pgvault rss_mib "$run" "$rss_mib"
    record_cpu restore pgvault "$run"
    echo "  run $run pgvault    ${secs}s rss ${rss_mib} MiB cpu ${cpu_s}s"
    # Delta restore onto the directory just restored: nothing differs, every file is compared.
    prepare_caches "$last_pgv_full" "$dir"
    timed "delta-pgvault-$run" "$PGVAULT" --repo "$last_pgv_full" --key-file "$key" restore \
      --pgdata "$dir" --jobs "$jobs" --delta
    record delta pgvault secs "$run" "$secs"
    echo "  run $run pgvault    --delta onto it: ${secs}s"
    rm -rf "$dir"

    for i in "${!br_bins[@]}"; do
      use_br "$i"
      dir=$work/restore-pgbackrest
      install -d -o postgres -g postgres -m 700 "$dir"
      prepare_caches "$br_repo/backup/bench/${last_br_full[$i]}"
      timed "restore-$br_tag-$run" "${BR[@]}" --pg1-path="$dir" --set="${last_br_full[$i]}" restore
      record restore "$br_tag" secs "$run" "$secs"; record restore "$br_tag" rss_mib "$run" "$rss_mib"
      record_cpu restore "$br_tag" "$run"
      printf '  run %s %-17s %ss rss %s MiB cpu %ss\n' "$run" "$br_tag" "$secs" "$rss_mib" "$cpu_s"
      prepare_caches "$br_repo/backup/bench/${last_br_full[$i]}" "$dir"
      timed "delta-$br_tag-$run" "${BR[@]}" --pg1-path="$dir" --set="${last_br_full[$i]}" \
        --delta restore
      record delta "$br_tag" secs "$run" "$secs"
      printf '  run %s %-17s --delta onto it: %ss\n' "$run" "$br_tag" "$secs"
      rm -rf "$dir"
    done
  done
fi

# ---------------------------------------------------------------------------------------------
# Recovery: each tool restores its full backup, then PostgreSQL replays every WAL segment
# archived since (the pgbench run of phase 2) through that tool's restore_command and promotes.
# Timed from pg_ctl start to the end of recovery (pg_is_in_recovery() false); the restore
# itself is phase 3. Synchronous archive-get, then each tool's read-ahead: pgvault --prefetch 8,
# pgBackRest archive-async with its default queue (128 MiB = 8 segments).
recover() {  # recover TAG CMD...: CMD restores into $dir; then start, wait, record under TAG
  local tag=$1 rport t0 t1
  shift
  rm -rf "$dir"
  install -d -o postgres -g postgres -m 700 "$dir"
  as_pg "$@" >"$work/log/recover-restore-$tag-$run.out" 2>&1 || {
    echo "compare.sh: restore for recovery failed:" >&2; cat "$work/log/recover-restore-$tag-$run.out" >&2; exit 1
  }
  rport=$(free_port)
  cat >>"$dir/postgresql.auto.conf" <<CONF
port = $rport
unix_socket_directories = '$work'
archive_mode = off
CONF
  prepare_caches "${cache_paths[@]}"
  t0=$(date +%s%N)
  # -w returns once the server accepts (read-only) connections or has failed to start.
  as_pg "$PGBIN/pg_ctl" -D "$dir" -l "$work/log/recover-$tag-$run.log" -w -t 600 start >/dev/null || true
  for _ in $(seq 6000); do
    [[ $(as_pg psql -X -q -At -h "$work" -p "$rport" -d postgres -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]] && break
    [[ -f $dir/postmaster.pid ]] || break  # the server stopped: recovery failed
    sleep 0.05
  done
  t1=$(date +%s%N)
  [[ $(as_pg psql -X -q -At -h "$work" -p "$rport" -d postgres -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]] || {
    echo "compare.sh: recovery with $tag did not finish; see $work/log/recover-$tag-$run.log" >&2; exit 1
  }
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
  # Each tool replays from its own backup's start: the backups were taken one after another,
  # so the earlier ones replay a few segments more. Per segment is the fair figure.
  local segs
  segs=$(grep -c 'restored log file "[0-9A-F]\{24\}"' "$work/log/recover-$tag-$run.log" || true)
  record recovery "$tag" secs "$run" "$secs"
  record recovery "$tag" ms_per_seg "$run" "$(awk -v s="$secs" -v n="$segs" 'BEGIN{printf "%.1f", n ? 1000*s/n : 0}')"
  printf '  run %s %-24s %ss for %s segments\n' "$run" "$tag" "$secs" "$segs"
  stop_cluster "$dir"
  rm -rf "$dir"
}
if has_phase recovery; then
  if ! has_phase incr; then
    as_pg "$PGBIN/pgbench" -h "$work" -p "$port" -c 2 -j 2 -T "$pgbench_seconds" postgres >/dev/null 2>&1
  fi
  psql_q "SELECT pg_switch_wal()" >/dev/null
  wait_archived
  bench_stamp "5. recovery: replay the WAL archived after the full backup ($(ls "$last_pgv_full"/wal/*/ | wc -l) segment objects in pgvault's repository), then promote"
  dir=$work/recover
  for run in $(seq "$runs"); do
    cache_paths=("$last_pgv_full")
    recover pgvault "$PGVAULT" --repo "$last_pgv_full" --key-file "$key" restore --pgdata "$dir" \
      --jobs "$jobs"
    recover pgvault-prefetch "$PGVAULT" --repo "$last_pgv_full" --key-file "$key" restore \
      --pgdata "$dir" --jobs "$jobs" --prefetch 8
    for i in "${!br_bins[@]}"; do
      use_br "$i"
      cache_paths=("$br_repo")
      recover "$br_tag" "${BR[@]}" --pg1-path="$dir" --set="${last_br_full[$i]}" restore
      # archive-async is refused on restore's command line: a config file of its own carries it
      # into the restore_command restore writes.
      async_conf=${br_confs[$i]%.conf}-get-async.conf
      sed "s|^\[global\]\$|[global]\narchive-async=y|; s|^spool-path=.*|spool-path=$work/log/spool-get-$i|" \
        "${br_confs[$i]}" >"$async_conf"
      chown postgres "$async_conf" && chmod 600 "$async_conf"
      recover "$br_tag-async" "${BR[0]}" --config="$async_conf" "${BR[@]:2}" \
        --pg1-path="$dir" --set="${last_br_full[$i]}" restore
    done
  done
fi

# ---------------------------------------------------------------------------------------------
if has_phase archive; then
  n=$(ls "$pool" | wc -l)
  bench_stamp "4. archive-push of $n real WAL segments, one process per segment (sync), each into a new repository"
  for run in $(seq "$runs"); do
    repo=$work/ap-pgvault-$run
    as_pg "$PGVAULT" --repo "$repo" --key-file "$key" --cipher "$pgv_cipher" repo-create >/dev/null
    warm_pool
    timed "archive-pgvault-$run" bash -c "set -e; for f in $pool/*; do \
      '$PGVAULT' --repo '$repo' --key-file '$key' archive-push \"\$f\"; done"
    record archive pgvault secs "$run" "$secs"; record archive pgvault rss_mib "$run" "$rss_mib"
    record archive pgvault bytes "$run" "$(bytes "$repo/wal")"
    record archive pgvault seg_per_s "$run" "$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.2f", n/s}')"
    echo "  run $run pgvault    ${secs}s $(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.1f", n/s}') segments/s rss ${rss_mib} MiB"
    rm -rf "$repo"

    for i in "${!br_bins[@]}"; do
      repo=$work/ap-pgbackrest-$run
      use_br "$i" "$repo"
      as_pg "${BR[@]}" stanza-create >/dev/null
      warm_pool
      timed "archive-$br_tag-$run" bash -c "set -e; for f in $pool/*; do \
        '${br_bins[$i]}' --config='${br_confs[$i]}' --stanza=bench --repo1-path='$repo' archive-push \"\$f\"; done"
      record archive "$br_tag" secs "$run" "$secs"; record archive "$br_tag" rss_mib "$run" "$rss_mib"
      record archive "$br_tag" bytes "$run" "$(bytes "$repo/archive")"
      record archive "$br_tag" seg_per_s "$run" "$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.2f", n/s}')"
      printf '  run %s %-17s %ss %s segments/s rss %s MiB\n' "$run" "$br_tag" "$secs" "$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.1f", n/s}')" "$rss_mib"
      rm -rf "$repo"
    done
  done

  # Asynchronous mode, as PostgreSQL's archiver drives it: a directory laid out like pg_wal (the
  # pool's segments, hard-linked, each with a .ready file), archive-push called for one segment
  # after another, each .ready renamed to .done once archive-push succeeded. Both tools
  # acknowledge a segment only once it is in the repository, so the loop's time is the time to
  # store all of them. pgvault: --archive-async (a read-ahead pusher with --jobs workers);
  # pgBackRest: archive-async=y with process-max = --jobs.
  bench_stamp "4b. archive-push of the same $n segments, asynchronous mode of each tool, --jobs/process-max $jobs"
  # pgBackRest insists that the WAL directory is pg1-path's pg_wal: a data directory holding only
  # pg_control and pg_wal serves both tools.
  fake_pgdata=$work/fake-pgdata fake_wal=$work/fake-pgdata/pg_wal
  make_fake_wal() {
    rm -rf "$fake_pgdata"
    mkdir -p "$fake_wal/archive_status" "$fake_pgdata/global"
    cp "$pgdata/global/pg_control" "$fake_pgdata/global/"
    local f
    for f in "$pool"/*; do
      ln "$f" "$fake_wal/"
      : >"$fake_wal/archive_status/$(basename "$f").ready"
    done
    chown -R postgres "$fake_pgdata"
    chmod 700 "$fake_pgdata"
  }
  async_loop() {  # async_loop CMD...: archive-push every segment in order, as the archiver does
    echo "set -e; cd '$fake_wal'; for f in 0*; do $*  \"$fake_wal/\$f\"; \
      mv archive_status/\$f.ready archive_status/\$f.done; done"
  }
  for run in $(seq "$runs"); do
    repo=$work/apa-pgvault-$run spool=$work/apa-pgvault-spool-$run
    as_pg "$PGVAULT" --repo "$repo" --key-file "$key" --cipher "$pgv_cipher" repo-create >/dev/null
    make_fake_wal
    warm_pool
    timed "archive-async-pgvault-$run" bash -c "$(async_loop "'$PGVAULT' --repo '$repo' \
      --key-file '$key' --archive-async --spool-path '$spool' --jobs $jobs archive-push")"
    record archive-async pgvault secs "$run" "$secs"
    record archive-async pgvault bytes "$run" "$(bytes "$repo/wal")"
    record archive-async pgvault seg_per_s "$run" "$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.2f", n/s}')"
    # The pusher is a daemon (/usr/bin/time does not see it): it logs its own CPU and RSS.
    while ! flock -n "$spool/pusher.lock" true; do sleep 0.2; done
    echo "  run $run pgvault    ${secs}s $(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.1f", n/s}') segments/s;$(grep 'pusher done' "$spool/pusher.log" | tail -1 | sed 's/.*pusher done://')"
    rm -rf "$repo" "$spool"

    for i in "${!br_bins[@]}"; do
      repo=$work/apa-pgbackrest-$run spool=$work/apa-pgbackrest-spool-$run
      use_br "$i" "$repo"
      as_pg "${BR[@]}" stanza-create >/dev/null
      make_fake_wal
      warm_pool
      timed "archive-async-$br_tag-$run" bash -c "$(async_loop "'${br_bins[$i]}' --config='${br_confs[$i]}' \
        --stanza=bench --repo1-path='$repo' --pg1-path='$fake_pgdata' --archive-async --spool-path='$spool' \
        --process-max=$jobs archive-push")"
      record archive-async "$br_tag" secs "$run" "$secs"
      record archive-async "$br_tag" bytes "$run" "$(bytes "$repo/archive")"
      record archive-async "$br_tag" seg_per_s "$run" "$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.2f", n/s}')"
      printf '  run %s %-17s %ss %s segments/s\n' "$run" "$br_tag" "$secs" "$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.1f", n/s}')"
      sleep 2  # its async process exits once nothing is ready
      rm -rf "$repo" "$spool"
    done
  done
  # pgBackRest's synchronous figures beside them: the issue's target compares against those.
  awk -F'\t' -v OFS='\t' '$1=="archive" && $2 ~ /^pgbackrest-/ {$1="archive-async"; $2=$2"-sync"; print}' \
    "$results" >>"$results"
  rm -rf "$fake_pgdata"
fi

# ---------------------------------------------------------------------------------------------
# Medians and ratios. A ratio is pgvault / other: below 1 is better for time, bytes and memory,
# above 1 is better for segments/s.
median() {  # median PHASE TOOL METRIC
  awk -F'\t' -v p="$1" -v t="$2" -v m="$3" '$1==p && $2==t && $3==m {print $5}' "$results" |
    sort -g | awk '{v[NR]=$1} END{if (NR==0) print "n/a"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a=="n/a" || b=="n/a" || b==0) print "n/a"; else printf "%.2f", a/b}'; }
fmt_val() {  # fmt_val METRIC VALUE
  [[ $2 == n/a ]] && { echo n/a; return; }
  case $1 in
    bytes) mb "$2" | sed 's/$/ MB/' ;;
    secs) printf '%.2f s\n' "$2" ;;
    rss_mib) printf '%.0f MiB\n' "$2" ;;
    seg_per_s) printf '%.1f seg/s\n' "$2" ;;
    ms_per_seg) printf '%.0f ms/seg\n' "$2" ;;
    cpu_s) printf '%.2f CPU-s\n' "$2" ;;
    cpu_per_gb) printf '%.2f CPU-s/GB\n' "$2" ;;
    *) echo "$2" ;;
  esac
}
row() {  # row LABEL PHASE METRIC TOOL...: pgvault, then each tool and pgvault's ratio to it
  local label=$1 phase=$2 metric=$3 a b tool
  shift 3
  a=$(median "$phase" pgvault "$metric")
  printf '%-34s %14s' "$label" "$(fmt_val "$metric" "$a")"
  for tool in "$@"; do
    b=$(median "$phase" "$tool" "$metric")
    printf ' %18s %7s' "$(fmt_val "$metric" "$b")" "$(ratio "$a" "$b")"
  done
  echo
}
header() {  # header FIRST COLUMN...: the column titles, each but the first followed by "ratio"
  printf '%-34s %14s' "" "$1"
  shift
  local c
  for c in "$@"; do printf ' %18s %7s' "$c" ratio; done
  echo
}
short() { sed 's/^pgbackrest-/pgBR /'; }  # a column title from a tool tag
br_cols=() br_sync=()
for tag in "${br_tags[@]}"; do br_cols+=("$(echo "$tag" | short)"); done
suffixed() { local t; for t in "${br_tags[@]}"; do echo "$t$1"; done; }  # suffixed SUFFIX
echo
bench_stamp "medians of $runs runs (scale $scale, jobs $jobs, encryption $encrypt, caches: $cache)"
if has_phase full; then
  header pgvault "${br_cols[@]}" pg_basebackup
  row "1. full backup: time" full secs "${br_tags[@]}" pg_basebackup
  row "1. full backup: repository bytes" full bytes "${br_tags[@]}" pg_basebackup
  row "1. full backup: peak RSS" full rss_mib "${br_tags[@]}" pg_basebackup
  # pg_basebackup compresses in the server: its client's CPU would say nothing.
  header pgvault "${br_cols[@]}"
  row "1. full backup: CPU (user + system)" full cpu_s "${br_tags[@]}"
  row "1. full backup: CPU s per GB" full cpu_per_gb "${br_tags[@]}"
fi
if has_phase incr; then
  header pgvault "${br_cols[@]}"
  mapfile -t incr < <(suffixed -incr)
  mapfile -t diff < <(suffixed -diff)
  row "2. next backup vs incr: time" incr secs "${incr[@]}"
  row "2. next backup vs incr: bytes" incr bytes "${incr[@]}"
  row "2. next backup vs incr: peak RSS" incr rss_mib "${incr[@]}"
  row "2. next backup vs diff: time" incr secs "${diff[@]}"
  row "2. next backup vs diff: bytes" incr bytes "${diff[@]}"
fi
if has_phase restore; then
  header pgvault "${br_cols[@]}"
  row "3. restore: time" restore secs "${br_tags[@]}"
  row "3. restore: peak RSS" restore rss_mib "${br_tags[@]}"
  row "3. restore: CPU (user + system)" restore cpu_s "${br_tags[@]}"
  row "3. delta restore, nothing changed" delta secs "${br_tags[@]}"
fi
if has_phase recovery; then
  header pgvault "${br_cols[@]}"
  row "5. recovery: replay + promote" recovery secs "${br_tags[@]}"
  row "5. recovery: per segment" recovery ms_per_seg "${br_tags[@]}"
  mapfile -t async < <(suffixed -async)
  header "pgvault prefetch" "${br_cols[@]/%/ async}"
  awk -F'\t' -v OFS='\t' '$1=="recovery" && $2=="pgvault-prefetch" {$2="pgvault"; $1="recovery-prefetch"; print}
    $1=="recovery" && $2 ~ /-async$/ {$1="recovery-prefetch"; sub(/-async$/, "", $2); print}' "$results" >>"$results"
  row "5. recovery, read-ahead" recovery-prefetch secs "${br_tags[@]}"
  row "5. recovery, read-ahead: per segment" recovery-prefetch ms_per_seg "${br_tags[@]}"
fi
if has_phase archive; then
  header pgvault "${br_cols[@]}"
  row "4. archive-push: segments/s" archive seg_per_s "${br_tags[@]}"
  row "4. archive-push: stored bytes" archive bytes "${br_tags[@]}"
  row "4. archive-push: peak RSS" archive rss_mib "${br_tags[@]}"
  mapfile -t sync < <(suffixed -sync)
  for tag in "${br_tags[@]}"; do br_sync+=("$(echo "$tag" | short) sync"); done
  header "pgvault async" "${br_cols[@]/%/ async}" "${br_sync[@]}"
  row "4b. async archive-push: seg/s" archive-async seg_per_s "${br_tags[@]}" "${sync[@]}"
  row "4b. async archive-push: bytes" archive-async bytes "${br_tags[@]}" "${sync[@]}"
fi
for phase in full incr; do
  has_phase "$phase" || continue
  line=""
  for stage in read hash compress encrypt write; do
    line+=" $stage $(median "$phase" pgvault "cpu_$stage")"
  done
  echo "pgvault --stats, $phase backup, median CPU seconds per stage:$line"
done
echo "peak RSS: the largest single process (pgBackRest runs process-max + 1 processes)"
echo "raw results: $results$([[ $keep == yes ]] || echo ' (removed at exit; --keep keeps it)')"
