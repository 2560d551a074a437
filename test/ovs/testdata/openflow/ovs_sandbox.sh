#!/bin/bash
# Private Open vSwitch for the OpenFlow integration test (and for capturing fixtures):
# ovsdb-server + ovs-vswitchd (netdev datapath) in DIR, vswitchd inside network namespace NS.
# Never touches the system OVS service or the machine's interfaces. Processes are stopped by
# the pids in their pidfiles.
#   ovs_sandbox.sh start DIR NS           # db, vswitchd, bridges br-int and br-ref
#   ovs_sandbox.sh start-vswitchd DIR NS  # (re)start only ovs-vswitchd
#   ovs_sandbox.sh stop-vswitchd DIR      # kill ovs-vswitchd (as a crash would)
#   ovs_sandbox.sh stop DIR NS            # stop everything, delete NS
set -u
cmd=$1 dir=$2 ns=${3:-}
export OVS_RUNDIR=$dir OVS_DBDIR=$dir OVS_SYSCONFDIR=$dir OVS_LOGDIR=$dir
vsctl() { ovs-vsctl --db=unix:"$dir/db.sock" --timeout=10 "$@"; }

kill_pidfile() {
  local f=$1
  [ -f "$f" ] || return 0
  local pid
  pid=$(cat "$f" 2>/dev/null) || return 0
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  rm -f "$f"
}

start_vswitchd() {
  ip netns exec "$ns" env OVS_RUNDIR="$dir" OVS_DBDIR="$dir" OVS_SYSCONFDIR="$dir" \
    OVS_LOGDIR="$dir" ovs-vswitchd unix:"$dir/db.sock" --pidfile="$dir/ovs-vswitchd.pid" \
    --unixctl="$dir/ovs-vswitchd.ctl" --log-file="$dir/ovs-vswitchd.log" -vconsole:off \
    --detach || return 1
  [ "${1:-}" = nowait ] && return 0
  for _ in $(seq 100); do
    [ -S "$dir/br-int.mgmt" ] && [ -S "$dir/br-ref.mgmt" ] && return 0
    sleep 0.1
  done
  echo "ovs_sandbox: br-int.mgmt did not appear in $dir" >&2
  return 1
}

case $cmd in
  start)
    mkdir -p "$dir" || exit 1
    ip netns add "$ns" || exit 1
    ovsdb-tool create "$dir/conf.db" /usr/share/openvswitch/vswitch.ovsschema || exit 1
    ovsdb-server "$dir/conf.db" --remote=punix:"$dir/db.sock" --pidfile="$dir/ovsdb-server.pid" \
      --unixctl="$dir/ovsdb-server.ctl" --log-file="$dir/ovsdb-server.log" -vconsole:off --detach || exit 1
    vsctl --no-wait init || exit 1
    start_vswitchd nowait || exit 1
    vsctl add-br br-int -- set bridge br-int datapath_type=netdev fail_mode=secure \
        other_config:disable-in-band=true \
      -- add-br br-ref -- set bridge br-ref datapath_type=netdev fail_mode=secure \
        other_config:disable-in-band=true || exit 1
    for _ in $(seq 100); do
      [ -S "$dir/br-int.mgmt" ] && [ -S "$dir/br-ref.mgmt" ] && exit 0
      sleep 0.1
    done
    echo "ovs_sandbox: management sockets did not appear in $dir" >&2
    exit 1
    ;;
  start-vswitchd)
    start_vswitchd
    ;;
  stop-vswitchd)
    kill_pidfile "$dir/ovs-vswitchd.pid"
    rm -f "$dir/br-int.mgmt" "$dir/br-ref.mgmt"
    ;;
  stop)
    kill_pidfile "$dir/ovs-vswitchd.pid"
    kill_pidfile "$dir/ovsdb-server.pid"
    [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
    exit 0
    ;;
  *)
    echo "usage: $0 start|start-vswitchd|stop-vswitchd|stop DIR [NS]" >&2
    exit 2
    ;;
esac
