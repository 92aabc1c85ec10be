#!/usr/bin/env bash
# stop-rgw.sh - stops the test S3 server that scripts/s3/start-rgw.sh started in DIR.
#
# Usage: scripts/s3/stop-rgw.sh DIR [--purge]
#   --purge  then delete everything in DIR
#
# Signals only the pids in DIR/run/*.pid whose command line names DIR/ceph.conf (gateway first,
# then OSD, then monitor). A server that is not running, or a missing DIR, is not an error.

set -euo pipefail

readonly STAMP="# pgvault start-rgw.sh cluster"
say() { echo "stop-rgw: $*" >&2; }

dir='' purge=false
for arg in "$@"; do
  case $arg in
    --purge) purge=true ;;
    -h|--help) sed -n '2,9s/^# \{0,1\}//p' "$0" >&2; exit 0 ;;
    -*) say "error: unknown option '$arg'"; exit 1 ;;
    *) [[ -z $dir ]] || { say "error: one DIR only"; exit 1; }; dir=$arg ;;
  esac
done
[[ -n $dir ]] || { say "usage: stop-rgw.sh DIR [--purge]"; exit 1; }
[[ -d $dir ]] || { say "no $dir; nothing to stop"; exit 0; }
dir=$(cd "$dir" && pwd -P)
conf=$dir/ceph.conf
if [[ -n $(ls -A "$dir") && $(head -n 1 "$conf" 2>/dev/null) != "$STAMP" ]]; then
  say "error: $dir holds no cluster of start-rgw.sh; not touching it"
  exit 1
fi

alive() {
  local pid
  pid=$(cat "$dir/run/$1.pid" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$conf"
}

for name in client.rgw.pgvault osd.0 mon.a; do
  if alive "$name"; then
    pid=$(cat "$dir/run/$name.pid")
    say "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for ((tick = 0; tick < 100; tick++)); do alive "$name" || break; sleep 0.1; done
    if alive "$name"; then
      say "$name ignored SIGTERM for 10 s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$dir/run/$name.pid"
done

if $purge; then
  find "$dir" -mindepth 1 -delete
  say "emptied $dir"
fi
