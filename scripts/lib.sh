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
  as_pg "$PGBIN/initdb" ${INITDB_FLAGS---data-checksums} -D "$1" -U postgres --auth=trust >/dev/null
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
  as_pg "$PGBIN/pg_ctl" -D "$1" -l "$2" -w start >/dev/null
}
