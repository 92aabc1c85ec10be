#!/usr/bin/env bash
# start-rgw.sh - a throw-away S3 server for pgvault's tests: Ceph's RADOS Gateway on a one-node
# cluster (monitor mon.a, OSD osd.0, gateway client.rgw.pgvault), bound to 127.0.0.1 only, with
# every file it writes (config, data, logs, pids, sockets) under one directory DIR.
#
# Usage: scripts/s3/start-rgw.sh DIR [--memstore] [--port N] [--region R] [--bucket B]
#                                    [--lock-bucket L] [--size GIB]
#   --memstore      keep objects in the OSD's memory (starts in ~3 s; default: bluestore in a
#                   sparse file DIR/osd.block, ~7 s)
#   --port N        S3 port (default: a free one)
#   --region R      region clients sign with (default us-east-1)
#   --bucket B      plain bucket to create (default pgvault-test)
#   --lock-bucket L bucket with S3 Object Lock (and so versioning) (default pgvault-lock)
#   --size GIB      OSD capacity (default 32 bluestore, 4 memstore)
#
# Prints "export NAME=value" lines on stdout (also kept in DIR/env.sh):
#   S3_ENDPOINT S3_REGION S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET S3_LOCK_BUCKET
#   and AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION.
# Progress goes to stderr. Stop it with scripts/s3/stop-rgw.sh DIR [--purge].
#
# Idempotent: when the cluster in DIR is up it only prints its settings again. A DIR holding a
# dead cluster of this script is wiped and started anew; any other non-empty DIR is refused.
# Concurrent starts on one DIR are serialized with flock. cephx is off and the daemons run as the
# caller (root in CI): a test fixture, never a place for real data.
# Packages: ceph-mon ceph-osd radosgw ceph-common (scripts/install-deps.sh installs them).

set -euo pipefail

readonly SELF=start-rgw
readonly STAMP="# pgvault start-rgw.sh cluster"
readonly GW=client.rgw.pgvault
readonly WAIT_S=120

say() { echo "$SELF: $*" >&2; }
fail() { say "error: $*"; exit 1; }

dir='' store=bluestore port='' region=us-east-1 bucket=pgvault-test lock_bucket=pgvault-lock size=''
while (($#)); do
  case $1 in
    --memstore) store=memstore ;;
    --store) store=${2:?}; shift ;;
    --port) port=${2:?}; shift ;;
    --region) region=${2:?}; shift ;;
    --bucket) bucket=${2?}; shift ;;
    --lock-bucket) lock_bucket=${2?}; shift ;;
    --size) size=${2:?}; shift ;;
    -h|--help) sed -n '2,25s/^# \{0,1\}//p' "$0" >&2; exit 0 ;;
    -*) fail "unknown option '$1'" ;;
    *) [[ -z $dir ]] || fail "one DIR only"; dir=$1 ;;
  esac
  shift
done
[[ -n $dir ]] || fail "usage: start-rgw.sh DIR [--memstore] [--port N] (see --help)"
[[ $store == bluestore || $store == memstore ]] || fail "store is bluestore or memstore, not '$store'"
[[ -z $port || $port =~ ^[0-9]+$ ]] || fail "--port wants a number, not '$port'"
size=${size:-$([[ $store == memstore ]] && echo 4 || echo 32)}
[[ $size =~ ^[0-9]+$ ]] || fail "--size wants whole GiB, not '$size'"
[[ $dir != *[[:space:]]* ]] || fail "DIR must not contain white space"

for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool curl python3 uuidgen flock; do
  command -v "$tool" >/dev/null ||
    fail "'$tool' is missing; install ceph-mon ceph-osd radosgw ceph-common (scripts/install-deps.sh)"
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd -P)
conf=$dir/ceph.conf

# fd 9 holds the lock on DIR while this script runs; daemons must not inherit it.
exec 9<"$dir"
flock 9

pid_of() { cat "$dir/run/$1.pid" 2>/dev/null; }
# A daemon counts as alive only if its pid's command line names our ceph.conf, so a recycled
# pid is never taken for it (nor signalled).
alive() {
  local pid
  pid=$(pid_of "$1") && [[ $pid =~ ^[0-9]+$ ]] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$conf"
}
halt_all() {
  local name pid tick
  for name in "$GW" osd.0 mon.a; do
    alive "$name" || continue
    pid=$(pid_of "$name")
    kill "$pid" 2>/dev/null || true
    for ((tick = 0; tick < 100; tick++)); do alive "$name" || break; sleep 0.1; done
    if alive "$name"; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$dir/run/$name.pid"
  done
}
# shellcheck disable=SC1091
up_and_serving() {
  [[ -f $dir/env.sh ]] && alive mon.a && alive osd.0 && alive "$GW" &&
    (source "$dir/env.sh" && curl -fso /dev/null --max-time 5 "$S3_ENDPOINT/")
}

if up_and_serving; then
  say "already running in $dir"
  cat "$dir/env.sh"
  exit 0
fi
if [[ -n $(ls -A "$dir") ]]; then
  [[ $(head -n 1 "$conf" 2>/dev/null) == "$STAMP" ]] ||
    fail "$dir is not empty and is no cluster of this script; give an empty or new directory"
  say "wiping the stopped cluster in $dir"
  halt_all
  find "$dir" -mindepth 1 -delete
fi

t0=$SECONDS
trap 'rc=$?; ((rc == 0)) || halt_all' EXIT

pick_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
if [[ -n $port ]]; then
  python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$port" \
    2>/dev/null || fail "port $port on 127.0.0.1 is taken"
else
  port=$(pick_port)
fi
mon_port=$(pick_port)
while [[ $mon_port == "$port" ]]; do mon_port=$(pick_port); done
endpoint=http://127.0.0.1:$port
fsid=$(uuidgen)
mkdir -p "$dir"/{mon,osd,rgw,log,run,crash}

# wait_until WHAT LOG CMD...: polls CMD for up to WAIT_S seconds; shows LOG's tail on timeout.
wait_until() {
  local what=$1 log=$2 until=$((SECONDS + WAIT_S))
  shift 2
  while ! "$@" >/dev/null 2>&1; do
    ((SECONDS < until)) || { tail -n 20 "$log" >&2 2>/dev/null || true; fail "$what not up after ${WAIT_S}s (see $log)"; }
    sleep 0.2
  done
}
# Ceph daemons fork once ready; keep their output in the log and away from our stdout.
spawn() { "$@" >>"$dir/log/startup.log" 2>&1 9>&-; }
ceph_() { ceph -c "$conf" --connect-timeout 30 "$@"; }

if [[ $store == memstore ]]; then
  osd_store="osd objectstore = memstore
memstore device bytes = $((size << 30))"
else
  # A sparse block file: disk space is used only for what is written.
  osd_store="osd objectstore = bluestore
bluestore block path = $dir/osd.block
bluestore block size = $((size << 30))
bluestore fsck on mkfs = false
osd memory target = $((1 << 30))"
fi

cat >"$conf" <<CONF
$STAMP
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
# Trust everything local. Without 'crc' the gateway wants an encrypted monitor session, which
# needs cephx, and hangs for 300 s.
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
keyring = /dev/null
client mount timeout = 60
# All paths inside DIR, none in /var.
run dir = $dir/run
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
mon cluster log file = $dir/log/\$channel.log
crash dir = $dir/crash
# One OSD, no ceph-mgr: single-copy pools with few PGs and no autoscaler.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 0
mon data avail crit = 0
# Monitor commits every 0.1 s: each of the gateway's pools waits for one (~10 s saved).
paxos propose interval = 0.1

[mon]
mon data = $dir/mon

[osd]
osd data = $dir/osd
$osd_store

[$GW]
# tcp_nodelay: without it every request after the first on a kept-alive connection waits
# ~40 ms (Nagle on the gateway against delayed ACKs on the client).
rgw frontends = beast endpoint=127.0.0.1:$port tcp_nodelay=1
rgw data = $dir/rgw
rgw dns name = localhost
rgw thread pool size = 64
rgw gc obj min wait = 60
rgw gc processor period = 60
CONF

say "monitor on 127.0.0.1:$mon_port"
monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
spawn ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" || fail "ceph-mon --mkfs failed (see $dir/log)"
spawn ceph-mon -c "$conf" -i a || fail "ceph-mon did not start (see $dir/log/mon.a.log)"
wait_until monitor "$dir/log/mon.a.log" ceph_ mon stat

say "OSD ($store, $size GiB)"
osd_uuid=$(uuidgen)
[[ $(ceph_ osd new "$osd_uuid") == 0 ]] || fail "the monitor did not hand out osd.0"
spawn ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" || fail "ceph-osd --mkfs failed (see $dir/log)"
spawn ceph-osd -c "$conf" -i 0 || fail "ceph-osd did not start (see $dir/log/osd.0.log)"
osd_is_up() { ceph_ osd stat -f json | grep -q '"num_up_osds":1'; }
wait_until OSD "$dir/log/osd.0.log" osd_is_up

# radosgw-admin talks to RADOS directly; its first run also creates the zone and pools.
say "S3 user"
read -r access_key secret_key < <(python3 -c '
import secrets, string
print("".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20)),
      secrets.token_hex(20))')
radosgw-admin -c "$conf" user create --uid=pgvault --display-name=pgvault \
  --access-key="$access_key" --secret-key="$secret_key" >/dev/null 2>>"$dir/log/startup.log" ||
  fail "radosgw-admin user create failed (see $dir/log/startup.log)"
# Name the zone group after the region, so CreateBucket's LocationConstraint matches it.
radosgw-admin -c "$conf" zonegroup modify --rgw-zonegroup=default --api-name="$region" \
  >/dev/null 2>>"$dir/log/startup.log" || fail "radosgw-admin zonegroup modify failed"
# Storage classes besides STANDARD, as AWS names them, so that per-tier classes can be tested: a
# PUT with a class the placement does not define is 400 InvalidStorageClass. They share the
# STANDARD data pool (one OSD); HEAD answers x-amz-storage-class for them.
for class in STANDARD_IA GLACIER_IR; do
  radosgw-admin -c "$conf" zonegroup placement add --rgw-zonegroup=default \
    --placement-id=default-placement --storage-class="$class" \
    >/dev/null 2>>"$dir/log/startup.log" || fail "radosgw-admin zonegroup placement add failed"
  radosgw-admin -c "$conf" zone placement add --rgw-zone=default \
    --placement-id=default-placement --storage-class="$class" \
    --data-pool=default.rgw.buckets.data \
    >/dev/null 2>>"$dir/log/startup.log" || fail "radosgw-admin zone placement add failed"
done

say "gateway on $endpoint"
spawn radosgw -c "$conf" -n "$GW" || fail "radosgw did not start (see $dir/log/$GW.log)"
wait_until radosgw "$dir/log/$GW.log" curl -so /dev/null --max-time 5 "$endpoint/"

make_bucket() {  # NAME [curl args]: CreateBucket signed by curl's --aws-sigv4
  local out
  out=$(curl -sS --fail-with-body --max-time 60 -X PUT --aws-sigv4 "aws:amz:$region:s3" \
    --user "$access_key:$secret_key" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "${@:2}" \
    "$endpoint/$1" 2>&1) || fail "creating bucket '$1' failed: $out"
}
[[ -z $bucket ]] || make_bucket "$bucket"
[[ -z $lock_bucket ]] || make_bucket "$lock_bucket" -H 'x-amz-bucket-object-lock-enabled: true'

umask 077
{
  printf 'export S3_ENDPOINT=%q\n' "$endpoint"
  printf 'export S3_REGION=%q\n' "$region"
  printf 'export S3_ACCESS_KEY=%q\n' "$access_key"
  printf 'export S3_SECRET_KEY=%q\n' "$secret_key"
  printf 'export S3_BUCKET=%q\n' "$bucket"
  printf 'export S3_LOCK_BUCKET=%q\n' "$lock_bucket"
  printf 'export AWS_ENDPOINT_URL=%q\n' "$endpoint"
  printf 'export AWS_ACCESS_KEY_ID=%q\n' "$access_key"
  printf 'export AWS_SECRET_ACCESS_KEY=%q\n' "$secret_key"
  printf 'export AWS_DEFAULT_REGION=%q\n' "$region"
} >"$dir/env.sh.new"
mv "$dir/env.sh.new" "$dir/env.sh"
say "ready in $((SECONDS - t0))s ($store); settings in $dir/env.sh, logs in $dir/log"
cat "$dir/env.sh"
