#!/usr/bin/env bash
# Lab integration test (needs root): two hosts, two VMs each on one L2 segment, plain OpenFlow
# flows set with ovs-ofctl. Checks same-host ping/TCP, cross-host ping/TCP through Geneve
# (tnl_push/tnl_pop in the datapath), that `vm move` keeps an open TCP connection alive, that
# `up` is idempotent and that `down` cleans up, also after a simulated crash.
# Every wait is bounded; the whole test takes well under 3 minutes.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB="$HERE/../../scripts/lab"
source "$HERE/lab_flows.sh"
source "$HERE/../../scripts/lib/lab_common.sh"

export RAMPART_LAB_DIR="${RAMPART_LAB_DIR:-$(mktemp -d /tmp/rl-test.XXXXXX)}"
PREFIX="$(lab_prefix "$(cd "$RAMPART_LAB_DIR" && pwd -P)")"
cleanup() { "$LAB" down >/dev/null 2>&1 || true; rm -rf "$RAMPART_LAB_DIR"; }
trap cleanup EXIT

FAILS=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
check() { local what="$1"; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

echo "== lab up (twice: idempotent)"
"$LAB" up --hosts 2
"$LAB" up --hosts 2
"$LAB" vm add h1 a1 --mac 02:00:00:00:01:01 --ip 198.18.0.11/24 --gw 198.18.0.1
"$LAB" vm add h1 a2 --mac 02:00:00:00:01:02 --ip 198.18.0.12/24 --gw 198.18.0.1
"$LAB" vm add h2 b1 --mac 02:00:00:00:02:01 --ip 198.18.0.21/24 --gw 198.18.0.1
"$LAB" vm add h2 b2 --mac 02:00:00:00:02:02 --ip 198.18.0.22/24 --gw 198.18.0.1
"$LAB" vm add h1 a1 --mac 02:00:00:00:01:01 --ip 198.18.0.11/24 --gw 198.18.0.1  # again: no-op
check "vm add with a conflicting config is refused" \
  bash -c "! '$LAB' vm add h2 a1 --mac 02:00:00:00:01:09 --ip 198.18.0.19/24 2>/dev/null"
check "vm add outside 198.18.0.0/15 is refused" \
  bash -c "! '$LAB' vm add h1 x1 --mac 02:00:00:00:01:09 --ip 10.0.0.1/24 2>/dev/null"
"$LAB" status
check "two hosts in status" test "$("$LAB" status | grep -c '^host ')" -eq 2
check "four vms in status" test "$("$LAB" status | grep -c '^vm ')" -eq 4
check "br-int is fail_mode=secure" \
  test "$("$LAB" host exec h1 -- ovs-vsctl get Bridge br-int fail_mode)" = secure
check "host exec exports the OVS sockets" \
  test "$("$LAB" host exec h2 -- sh -c 'echo $RAMPART_LAB_HOST $RAMPART_OVSDB_SOCK')" = "h2 $RAMPART_LAB_DIR/hosts/h2/db.sock"
check "iface-id set" \
  test "$("$LAB" host exec h2 -- ovs-vsctl get Interface vm-b1 external_ids:iface-id | tr -d '"')" = b1

echo "== no flows yet: secure bridge drops"
check "no connectivity before flows" bash -c "! '$LAB' exec a1 -- ping -c1 -W1 198.18.0.12 >/dev/null"

lab_program_flows "$LAB"

echo "== same host"
check "ping a1 -> a2 (same host)" "$LAB" exec a1 -- ping -c3 -i0.2 -W2 198.18.0.12
"$LAB" exec a2 -- timeout 20 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
sleep 0.5
check "iperf3 a1 -> a2 (same host, 2 s)" \
  "$LAB" exec a1 -- timeout 20 iperf3 -c 198.18.0.12 -p 5201 -t 2 -f m --connect-timeout 3000
wait || true

echo "== cross host (Geneve)"
check "ping a1 -> b1 (cross host)" "$LAB" exec a1 -- ping -c3 -i0.2 -W2 198.18.0.21
"$LAB" exec b2 -- timeout 20 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
sleep 0.5
check "iperf3 a2 -> b2 (cross host, 2 s)" \
  "$LAB" exec a2 -- timeout 20 iperf3 -c 198.18.0.22 -p 5201 -t 2 -f m --connect-timeout 3000
wait || true
"$LAB" exec b1 -- timeout 10 nc -l -p 7000 >"$RAMPART_LAB_DIR/nc.out" 2>/dev/null &
sleep 0.3
echo hello-over-geneve | "$LAB" exec a1 -- timeout 5 nc -q1 198.18.0.21 7000 || true
wait || true
check "nc a1 -> b1 payload" grep -q hello-over-geneve "$RAMPART_LAB_DIR/nc.out"
check "h1 datapath uses tnl_push" \
  bash -c "'$LAB' host exec h1 -- ovs-appctl dpctl/dump-flows | grep -q tnl_push"
check "h1 datapath uses tnl_pop" \
  bash -c "'$LAB' host exec h1 -- ovs-appctl dpctl/dump-flows | grep -q tnl_pop"

echo "== vm move keeps an open TCP connection"
# Echo server on b1; a client in a2 opens a connection, exchanges one message, waits for the
# go file, exchanges another over the same socket.
"$LAB" exec b1 -- timeout 60 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.18.0.21", 7001)); s.listen(1); c, _ = s.accept()
while True:
    d = c.recv(100)
    if not d: break
    c.sendall(b"echo:" + d)
' &
SERVER=$!
sleep 0.5
GO="$RAMPART_LAB_DIR/go"
"$LAB" exec a2 -- timeout 60 python3 -c '
import os, socket, sys, time
go = sys.argv[1]
s = socket.create_connection(("198.18.0.21", 7001), timeout=5)
s.sendall(b"before"); print(s.recv(100).decode(), flush=True)
deadline = time.time() + 40
while not os.path.exists(go):
    if time.time() > deadline: sys.exit("no go file")
    time.sleep(0.1)
s.settimeout(20)
s.sendall(b"after"); print(s.recv(100).decode(), flush=True)
s.close()
' "$GO" >"$RAMPART_LAB_DIR/client.out" 2>&1 &
CLIENT=$!
wait_for "first echo" 10 grep -q echo:before "$RAMPART_LAB_DIR/client.out" || true
check "connection open before move" grep -q echo:before "$RAMPART_LAB_DIR/client.out"
VM_NS_INODE_BEFORE="$(stat -L -c %i "/run/netns/$PREFIX-vm-a2")"
"$LAB" vm move a2 h2
check "a2 is on h2" bash -c "'$LAB' status | grep -q '^vm a2: host h2'"
check "port left h1's br-int" bash -c "! '$LAB' host exec h1 -- ovs-vsctl list-ports br-int | grep -qx vm-a2"
check "vm namespace untouched" test "$(stat -L -c %i "/run/netns/$PREFIX-vm-a2")" = "$VM_NS_INODE_BEFORE"
lab_program_flows "$LAB"
touch "$GO"
wait $CLIENT || true
cat "$RAMPART_LAB_DIR/client.out"
check "same TCP connection works after move" grep -q echo:after "$RAMPART_LAB_DIR/client.out"
kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true
check "ping a2 -> a1 now crosses hosts" "$LAB" exec a2 -- ping -c2 -i0.2 -W2 198.18.0.11
"$LAB" vm move a2 h1
lab_program_flows "$LAB"
check "ping a2 -> a1 after moving back" "$LAB" exec a2 -- ping -c2 -i0.2 -W2 198.18.0.11

echo "== a crashed daemon is restarted by up"
kill -9 "$(cat "$RAMPART_LAB_DIR/hosts/h2/ovs-vswitchd.pid")"
wait_for "ovs-vswitchd of h2 to die" 5 bash -c "! '$LAB' status | grep -q 'h2.*running'" || true
check "status reports the dead ovs-vswitchd" bash -c "'$LAB' status | grep -q 'ovs-vswitchd DOWN'"
"$LAB" up --hosts 2
check "status shows every host running again" bash -c "! '$LAB' status | grep -q DOWN"
lab_program_flows "$LAB"  # OpenFlow flows do not survive an ovs-vswitchd restart
check "cross-host ping after the restart" "$LAB" exec a1 -- ping -c2 -i0.2 -W2 198.18.0.21

echo "== a second lab does not collide"
OTHER="$(mktemp -d /tmp/rl-test2.XXXXXX)"
OTHER_PREFIX="$(RAMPART_LAB_DIR="$OTHER" "$LAB" prefix)"
check "different lab dir, different prefix" test "$OTHER_PREFIX" != "$PREFIX"
RAMPART_LAB_DIR="$OTHER" "$LAB" up --hosts 1 >/dev/null
RAMPART_LAB_DIR="$OTHER" "$LAB" down >/dev/null
rm -rf "$OTHER"
check "other lab's down left ours alone" "$LAB" exec a1 -- ping -c1 -W2 198.18.0.12
check "other lab's namespaces are gone" bash -c "! ip netns list | grep -q '^$OTHER_PREFIX-'"

echo "== down after a crash"
# Simulate a crash: kill ovs-vswitchd of h1 by pid and lose the state dir (pidfiles included),
# so `down` must find the remaining daemons through the namespace prefix.
PIDS="$(cat "$RAMPART_LAB_DIR"/hosts/h*/*.pid | tr '\n' ' ')"
kill -9 "$(cat "$RAMPART_LAB_DIR/hosts/h1/ovs-vswitchd.pid")"
mv "$RAMPART_LAB_DIR/hosts" "$RAMPART_LAB_DIR/hosts.lost"
"$LAB" down
check "no namespaces with our prefix left" bash -c "! ip netns list | grep -q '^$PREFIX-'"
check "lab dir removed" test ! -e "$RAMPART_LAB_DIR/hosts.lost"
alive=""
for pid in $PIDS; do
  if proc_running "$pid"; then alive+=" $pid"; fi
done
check "none of the lab's OVS daemons ($PIDS) is alive" test -z "$alive"

echo "== $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
