# Shell helpers shared by scripts/demo.sh and the bench/ scripts (sourced, not run).
# Throw-away PostgreSQL clusters run as the OS user postgres on free loopback ports and are
# stopped by PID, as the integration-test harness does.

as_pg() { runuser -u postgres -- "$@"; }

free_port() {  # a free loopback TCP port in 20000-39999 (never 5432)
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    ss -ltn | awk '{print $4}' | grep -q ":$p\$" || { echo "$p"; return; }
  done
}

stop_cluster() {  # stop_cluster PGDATA: SIGINT (fast shutdown) by PID, SIGKILL after 10 s
  local pid
  [[ -f $1/postmaster.pid ]] || return 0
  pid=$(head -1 "$1/postmaster.pid")
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

make_workdir() {  # make_workdir NAME: sets work to a new /tmp/NAME.XXXXXX that postgres may use;
  # on exit the cluster in $work/pgdata is stopped and $work removed (kept if keep=yes).
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$work"
  chown postgres:postgres "$work"
  trap remove_workdir EXIT
  trap 'exit 130' INT TERM
}

remove_workdir() {
  stop_cluster "$work/pgdata" || true
  if [[ ${keep:-no} == yes ]]; then echo "kept $work"; else rm -rf "$work"; fi
}

bench_pgvault() {  # bench_pgvault [BIN]: PGVAULT=BIN, or a Release build of pgvault in build-bench
  if [[ -n ${1:-} ]]; then
    PGVAULT=$(realpath "$1")
  else
    cmake -S "$SRC" -B "$SRC/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    ninja -C "$SRC/build-bench" pgvault >/dev/null
    PGVAULT=$SRC/build-bench/pgvault
  fi
}

init_cluster() {  # init_cluster PGDATA PORT ARCHIVE_COMMAND [MORE_SETTINGS]: a new cluster (initdb
  # --data-checksums unless INITDB_FLAGS says otherwise) on 127.0.0.1:PORT, its socket in $work,
  # archiving with ARCHIVE_COMMAND; not started (start_cluster), so a repository can be made first.
  # shellcheck disable=SC2086  # INITDB_FLAGS is a word list
  as_pg "${PGBIN:-/usr/lib/postgresql/15/bin}/initdb" ${INITDB_FLAGS---data-checksums} -D "$1" -U postgres --auth=trust >/dev/null
  cat >>"$1/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $2
unix_socket_directories = '$work'
archive_mode = on
archive_command = '$3'
${4:-}
CONF
}

start_cluster() {  # start_cluster PGDATA LOG
  as_pg "${PGBIN:-/usr/lib/postgresql/15/bin}/pg_ctl" -D "$1" -l "$2" -w start >/dev/null
}

bench_stamp() {  # bench_stamp TEXT: "== [MM:SS] TEXT", the time since the script began (t_begin)
  printf '== [%s] %s\n' "$(date -u -d @$(($(date +%s) - t_begin)) +%M:%S)" "$1"
}

start_archiving_cluster() {  # start_archiving_cluster PGDATA PORT ARCHIVE_COMMAND [LINE...]
  # init_cluster with the extra postgresql.conf LINEs, then start; the log is $work/postgres.log.
  local pgdata=$1 port=$2 archive=$3
  shift 3
  init_cluster "$pgdata" "$port" "$archive" "$(printf '%s\n' "$@")"
  start_cluster "$pgdata" "$work/postgres.log"
}

wait_for_archiver() {  # wait_for_archiver PGDATA: until no segment waits for archive_command (120 s)
  for _ in $(seq 600); do
    compgen -G "$1/pg_wal/archive_status/*.ready" >/dev/null || return 0
    sleep 0.2
  done
  echo "archiving is stuck: segments still wait for archive_command after 120 s (see the server log)" >&2
  return 1
}

measure() {  # measure OUT CMD...: CMD as postgres under /usr/bin/time -v (its report in
  # OUT.time), its output in OUT; sets secs (wall), cpu_s (user + system of CMD and the children
  # it waited for) and rss_mib (peak RSS); a failure prints OUT and returns 1
  local out=$1 t0 t1
  shift
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$out.time" runuser -u postgres -- "$@" >"$out" 2>&1 || {
    echo "'$*' failed:" >&2; cat "$out" >&2; return 1
  }
  t1=$(date +%s%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
  rss_mib=$(awk -F': ' '/Maximum resident set size/{printf "%.1f", $2/1024}' "$out.time")
  cpu_s=$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.2f", u+s}' "$out.time")
}

write_pgbackrest_conf() {  # write_pgbackrest_conf FILE [GLOBAL_LINE...]: the benchmarks'
  # pgBackRest config (stanza 'bench': $pgdata on port $port with its socket in $work; zstd 3,
  # process-max $jobs, logs, locks and spool in $work/log) with the given [global] lines first;
  # owned by postgres, mode 0600
  local file=$1
  shift
  {
    echo "[global]"
    printf '%s\n' "$@"
    cat <<CONF
compress-type=zst
compress-level=3
process-max=$jobs
start-fast=y
log-level-console=warn
log-level-file=off
log-path=$work/log
lock-path=$work/log/lock
spool-path=$work/log/spool

[bench]
pg1-path=$pgdata
pg1-port=$port
pg1-socket-path=$work
CONF
  } >"$file"
  chown postgres:postgres "$file"
  chmod 600 "$file"
}
