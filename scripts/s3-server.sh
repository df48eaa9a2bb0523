#!/usr/bin/env bash
# A real S3 server for tests and benchmarks: Ceph radosgw (one monitor, one memstore OSD, one gateway) on
# 127.0.0.1, everything under one state dir, installed from Debian's packages when missing.
# MinIO's server is not obtainable here; the code under test is the same `minio` client either way.
#
#   scripts/s3-server.sh start     # idempotent; prints nothing but progress, fails loudly with the log tail
#   scripts/s3-server.sh env       # REPOTUNE_S3_ENDPOINT / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY to eval
#   scripts/s3-server.sh status    # exit 0 when the gateway answers
#   scripts/s3-server.sh stop      # stop by PID and remove the state (data lives in RAM)
set -euo pipefail

STATE=${REPOTUNE_S3_STATE:-/tmp/repotune-s3}
PORT=${REPOTUNE_S3_PORT:-7480}
MON_PORT=${REPOTUNE_S3_MON_PORT:-3300}
# Fixed test credentials of a throwaway, loopback-only server.
ACCESS_KEY=${REPOTUNE_S3_TEST_ACCESS_KEY:-repotunetestaccess}
SECRET_KEY=${REPOTUNE_S3_TEST_SECRET_KEY:-repotunetestsecret0123456789}
CONF=$STATE/ceph.conf
export CEPH_CONF=$CONF

log() { echo "s3-server: $*" >&2; }
die() {
  log "ERROR: $*"
  for f in "$STATE"/log/*.log "$STATE"/*.out; do
    [ -f "$f" ] && { log "--- tail of $f"; tail -n 15 "$f" >&2; }
  done
  exit 1
}

gateway_up() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; }

install_packages() {
  command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && return
  log "installing radosgw ceph-mon ceph-osd from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq radosgw ceph-mon ceph-osd curl >/dev/null || die "apt-get install failed"
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  for _ in $(seq 1 $((limit * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  die "timed out after ${limit}s waiting for $what"
}

start_daemon() {  # start_daemon NAME COMMAND...
  local name=$1; shift
  setsid "$@" >"$STATE/$name.out" 2>&1 < /dev/null &
  echo $! > "$STATE/$name.pid"
}

start() {
  if gateway_up; then log "already running on 127.0.0.1:$PORT"; return; fi
  install_packages
  stop_daemons
  rm -rf "$STATE"; mkdir -p "$STATE"/{log,run,mon,osd/ceph-0,rgw}
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$CONF" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$MON_PORT
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $STATE/keyring
run dir = $STATE/run
log file = $STATE/log/\$name.log
admin socket = $STATE/run/\$name.asok
pid file = $STATE/run/\$name.pid
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon data avail warn = 2
mon data avail crit = 1
[mon]
mon data = $STATE/mon/ceph-\$id
[osd]
osd data = $STATE/osd/ceph-\$id
osd objectstore = memstore
memstore device bytes = ${REPOTUNE_S3_MEMSTORE_BYTES:-4294967296}
keyring = $STATE/osd/ceph-\$id/keyring
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $STATE/rgw
# Deleted and overwritten objects free their RAM at once, not after the default two hours.
rgw gc obj min wait = 0
rgw gc processor period = 2
rgw gc processor max time = 2
keyring = $STATE/rgw.keyring
CONF
  ceph-authtool --create-keyring "$STATE/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$STATE/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' >/dev/null
  monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT]" --fsid "$fsid" "$STATE/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$STATE/monmap" --keyring "$STATE/keyring" || die "ceph-mon --mkfs failed"
  start_daemon mon ceph-mon -f -i a
  wait_for 30 "the monitor" ceph --connect-timeout 2 mon stat
  local id; id=$(ceph osd create)
  ceph-osd -i "$id" --mkfs --mkkey --no-mon-config >/dev/null 2>&1 || die "ceph-osd --mkfs failed"
  ceph auth add "osd.$id" osd 'allow *' mon 'allow profile osd' -i "$STATE/osd/ceph-$id/keyring" >/dev/null 2>&1
  start_daemon osd ceph-osd -f -i "$id"
  wait_for 60 "the OSD to come up" sh -c "ceph osd stat | grep -q '1 up'"
  # Create the gateway's pools first: radosgw otherwise creates them lazily and the first bucket takes ~6 s.
  for pool in .rgw.root default.rgw.control default.rgw.meta default.rgw.log default.rgw.buckets.index \
              default.rgw.buckets.data default.rgw.buckets.non-ec; do
    ceph osd pool create "$pool" 8 >/dev/null 2>&1
    ceph osd pool application enable "$pool" rgw >/dev/null 2>&1
  done
  ceph auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' -o "$STATE/rgw.keyring" >/dev/null 2>&1
  start_daemon rgw radosgw -f -n client.rgw.a
  wait_for 60 "radosgw on 127.0.0.1:$PORT" gateway_up
  radosgw-admin user create --uid=repotune --display-name=repotune --access-key="$ACCESS_KEY" \
    --secret-key="$SECRET_KEY" >/dev/null 2>&1 || die "radosgw-admin user create failed"
  log "radosgw running on 127.0.0.1:$PORT (state in $STATE)"
}

stop_daemons() {
  local pids=()
  for name in rgw osd mon; do
    local pidfile=$STATE/$name.pid
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$pidfile"
  done
  for pid in "${pids[@]}"; do  # the OSD takes a few seconds to exit
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop_daemons; rm -rf "$STATE"; log "stopped" ;;
  status) gateway_up && echo "running on 127.0.0.1:$PORT" || { echo "not running"; exit 1; } ;;
  env)
    echo "export REPOTUNE_S3_ENDPOINT=127.0.0.1:$PORT"
    echo "export AWS_ACCESS_KEY_ID=$ACCESS_KEY"
    echo "export AWS_SECRET_ACCESS_KEY=$SECRET_KEY"
    ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
