#!/usr/bin/env bash
# Measures how the repository block size trades incremental savings against metadata and speed:
# one pgbench cluster, one repository per block size, a first backup, one pgbench run, a second
# backup. Prints bytes stored by each backup, manifest bytes and backup time. Run as root.
# Usage: scripts/measure-block-size.sh [SCALE] [PGBENCH_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-10}
seconds=${2:-30}
sizes=(8 16 32 64 128 256)
PGBIN=/usr/lib/postgresql/15/bin
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && ninja -C build pgvault >/dev/null
PGVAULT=$PWD/build/pgvault
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
make_workdir pgvault-bs
port=$(free_port)
# Every repository receives the WAL (one archive_command per block size).
cmd=""
for bs in "${sizes[@]}"; do cmd+="$PGVAULT --repo $work/repo$bs archive-push %p && "; done
init_cluster "$work/pgdata" "$port" "${cmd% && }"
# The repositories exist before PostgreSQL archives into them (a failed archive_command
# backs off for a minute).
for bs in "${sizes[@]}"; do
  as_pg "$PGVAULT" --repo "$work/repo$bs" --cipher none --block-size "$bs" repo-create >/dev/null
done
start_cluster "$work/pgdata" "$work/pg.log"
as_pg "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -i -s "$scale" -q postgres >/dev/null 2>&1
backup() {
  as_pg "$PGVAULT" --repo "$work/repo$1" backup --pgdata "$work/pgdata" --pg-host 127.0.0.1 --pg-port "$port" >/dev/null
  as_pg "$PGVAULT" --repo "$work/repo$1" info --json | python3 -c '
import json,sys; b=json.load(sys.stdin)["backups"][-1]; print(b["bytes_new"], b["duration_seconds"])'
}
declare -A first second
for bs in "${sizes[@]}"; do first[$bs]=$(backup "$bs"); done
as_pg "$PGBIN/pgbench" -h 127.0.0.1 -p "$port" -c 2 -T "$seconds" postgres >/dev/null 2>&1
for bs in "${sizes[@]}"; do second[$bs]=$(backup "$bs"); done
printf "%-10s %14s %10s %14s %10s %14s\n" "block KiB" "1st stored B" "1st s" "2nd stored B" "2nd s" "manifests B"
for bs in "${sizes[@]}"; do
  read -r b1 t1 <<<"${first[$bs]}"; read -r b2 t2 <<<"${second[$bs]}"
  man=$(du -sb "$work/repo$bs/backups" | cut -f1)
  printf "%-10s %14s %10.2f %14s %10.2f %14s\n" "$bs" "$b1" "$t1" "$b2" "$t2" "$man"
done
