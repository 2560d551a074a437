#!/usr/bin/env bash
# Controller failover on the lab with real traffic (CTest controller_failover_lab, needs root;
# docs/failover-test.md). One etcd member on loopback, a three-host lab with rampart-fwd and
# rampart-agent per host, TWO rampart-controller processes on that etcd (ids ctl-a and ctl-b,
# each with its own REST API and agent socket, --lease-ttl 2); every agent lists both agent
# sockets (`--controller unix:A,unix:B`) and is served by its host's owner (the other redirects).
#
#  1. membership: both controllers in /rampart/controllers/; every host's agent is connected to
#     the owner predicted by the rendezvous hash (observed from the kernel's unix-socket table:
#     which controller socket holds a connection from that agent's process);
#  2. examples/demo/network.yaml applied through the API of h1's owner (the controller killed
#     below); traffic matrix (expected/observed);
#  3. an iperf3 flow a-vm1 (h1) -> A/vm3 (h3) through tenant A's firewall; kill -9 of the
#     controller owning h1; the flow must move data in every second, a blocked port must stay
#     blocked, the orphaned agents must be served by the survivor within a printed bound, their
#     switches' flows must not change, and the matrix must still hold;
#  4. a rule change through the SURVIVOR's API must take effect on the orphaned hosts (timed);
#     the killed controller is restarted (same id): the hosts are shared again as predicted, no
#     flow changes, the matrix holds, and a change through the restarted controller's API lands;
#  5. SIGTERM of the other controller: its host moves at once (lease revoked), and a vNIC policy
#     change through the remaining controller's API lands there.
# Exit 0 only if every check agrees and no daemon's log holds a sanitizer report. Cleans up (daemons, etcd, namespaces, temp dir) on every
# exit path; FAILOVER_KEEP=1 leaves everything for inspection.
#
# usage: test/integration/controller_failover_test.sh [BUILD_DIR]   (root; default: build)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BUILD="$(cd "${1:-build}" && pwd)"
LAB="$ROOT/scripts/lab"
# shellcheck source=../../scripts/lib/lab_common.sh
source "$ROOT/scripts/lib/lab_common.sh"  # read-only: wait_for, proc_running
CTL="$BUILD/src/cli/rampartctl"
CONTROLLER="$BUILD/src/controller/server/rampart-controller"
AGENT="$BUILD/src/agent/rampart-agent"
FWD="$BUILD/src/fwd/rampart-fwd"
ETCD="${ETCD:-/usr/bin/etcd}"
ETCDCTL="${ETCDCTL:-/usr/bin/etcdctl}"
for b in "$CTL" "$CONTROLLER" "$AGENT" "$FWD" "$ETCD" "$ETCDCTL"; do
  [ -x "$b" ] || { echo "failover: $b not found (build the targets; apt-get install etcd-server etcd-client)" >&2; exit 1; }
done
for t in iperf3 ss nc curl python3 ovs-ofctl; do
  command -v "$t" >/dev/null || { echo "failover: $t not installed" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "failover: needs root (network namespaces, Open vSwitch)" >&2; exit 1; }

export RAMPART_LAB_DIR="${RAMPART_LAB_DIR:-$(mktemp -d /tmp/rfo.XXXXXX)}"
D="$RAMPART_LAB_DIR"
TTL=2                    # controller membership lease (s)
IDS=(ctl-a ctl-b)        # with these ids the rendezvous hash splits h1..h3 between both
HOSTS=(h1 h2 h3)
PIDS=()                  # process groups (setsid) to stop on exit
FAILS=0
N=0

cleanup() {
  local rc=$? p f
  trap - EXIT INT TERM
  if [ -z "${FAILOVER_KEEP:-}" ]; then
    for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
    for _ in $(seq 50); do
      local alive=0
      for p in "${PIDS[@]}"; do kill -0 -- "-$p" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
  fi
  # A daemon built with -DRAMPART_SANITIZE=ON reports into its log (also at its exit above).
  for f in "$D"/etcd.log "$D"/ctl-*.log "$D"/hosts/*/agent.log "$D"/hosts/*/fwd.log; do
    if [ -f "$f" ] && grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
      echo "controller_failover: sanitizer report in $f:"
      grep -m3 -A12 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"
      [ "$rc" -ne 0 ] || rc=1
    fi
  done
  if [ "$rc" -ne 0 ] || [ "$FAILS" -ne 0 ]; then
    for f in "$D"/etcd.log "$D"/ctl-*.log "$D"/hosts/*/agent.log "$D"/hosts/*/fwd.log; do
      [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }
    done
  fi
  if [ -n "${FAILOVER_KEEP:-}" ]; then
    echo "FAILOVER_KEEP: leaving the lab in $D (stop: kill the daemons, RAMPART_LAB_DIR=$D scripts/lab down)"
    exit "$rc"
  fi
  "$LAB" down >/dev/null 2>&1 || true
  rm -rf "$D"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo; echo "== $*"; }
now_ns() { date +%s%N; }
ms_since() { echo $(( ($(now_ns) - $1) / 1000000 )); }
die() { echo "failover: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A check line of the report: check WHAT EXPECTED OBSERVED [NOTE]
check() {
  local what="$1" expect="$2" got="$3" note="${4:-}" mark=ok
  N=$((N + 1))
  [ "$expect" = "$got" ] || { mark=WRONG; FAILS=$((FAILS + 1)); }
  printf '%-4s %-46s %-12s %-12s %s\n' "$N" "$what" "$expect" "$got" "$mark${note:+  ($note)}"
}

# The orphaned hosts' agents were served by another controller (WHO) across EVENT: each holds a
# revision of a new epoch, and nothing changed on the host (same flows, no apply).
check_resynced() {  # WHO EVENT
  local who="$1" event="$2" h r
  for h in "${ORPHANS[@]}"; do
    wait_epoch_above "$h" "${EPOCH_AT[$h]}" 20 || true
    if [ "$(held_epoch "$h")" -gt "${EPOCH_AT[$h]}" ]; then r=yes; else r=no; fi
    check "$h's agent holds a revision of a new epoch" yes "$r" "epoch ${EPOCH_AT[$h]} -> $(held_epoch "$h"): $who's snapshot, applied and acked"
  done
  for h in "${ORPHANS[@]}"; do
    if [ "$(flows "$h")" = "${FLOWS_BEFORE[$h]}" ]; then r=same; else r=changed; fi
    check "$h's br-int flows across the $event" same "$r" "$(wc -l <<<"${FLOWS_BEFORE[$h]}") flows"
    check "$h's agent applied $who's snapshot" no-op "$(applied_since "$h" "${LOG_AT[$h]}")" \
      "equal rows: no flow, instance, policy or tag sent"
  done
}

# ---- etcd ------------------------------------------------------------------------------------
step "etcd: one member on 127.0.0.1, data in $D/etcd"
EC=$(free_port); EP=$(free_port)
while [ "$EP" = "$EC" ]; do EP=$(free_port); done
setsid "$ETCD" --name fo --data-dir "$D/etcd" \
  --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
  --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
  --initial-cluster "fo=http://127.0.0.1:$EP" \
  --max-txn-ops=100000 --max-request-bytes=33554432 >"$D/etcd.log" 2>&1 &
PIDS+=($!)
export ETCDCTL_API=3
etcdctl() { "$ETCDCTL" --endpoints="127.0.0.1:$EC" --dial-timeout=2s --command-timeout=3s "$@"; }
wait_for "etcd on 127.0.0.1:$EC" 30 etcdctl endpoint health || die "etcd did not start"
members() { etcdctl get --prefix /rampart/controllers/ --keys-only 2>/dev/null | sed -n 's|^/rampart/controllers/||p' | sort | paste -sd, -; }
members_are() { [ "$(members)" = "$1" ]; }

# ---- lab -------------------------------------------------------------------------------------
step "lab: ${#HOSTS[@]} hosts, state in $D"
"$LAB" up --hosts ${#HOSTS[@]}
"$CTL" certs init --dir "$D/tls" --hosts "$(IFS=,; echo "${HOSTS[*]}")" >/dev/null
RAMPART_TOKEN="$(sed -n 's/.*token: *"\{0,1\}\([A-Za-z0-9_-]*\).*/\1/p' "$D/tls/tokens.yaml" | head -1)"
export RAMPART_TOKEN RAMPART_CA="$D/tls/ca.pem"

# ---- controllers -----------------------------------------------------------------------------
declare -A CPID API
for id in "${IDS[@]}"; do API[$id]=$(free_port); done
while [ "${API[ctl-a]}" = "${API[ctl-b]}" ] || [ "${API[ctl-a]}" = "$EC" ] || [ "${API[ctl-b]}" = "$EC" ]; do
  API[ctl-b]=$(free_port)
done
start_controller() {  # ID
  local id="$1"
  setsid "$CONTROLLER" --store "etcd://127.0.0.1:$EC" --api "127.0.0.1:${API[$id]}" \
    --agents "unix:$D/$id.sock" --id "$id" --lease-ttl "$TTL" --tls-dir "$D/tls" >>"$D/$id.log" 2>&1 &
  CPID[$id]=$!
  PIDS+=($!)
  wait_for "$id's REST API" 30 curl -sf --cacert "$D/tls/ca.pem" "https://127.0.0.1:${API[$id]}/healthz" ||
    die "controller $id did not start"
}
# Writes tenant A's KIND document of examples/demo/network.yaml with FROM replaced by TO to OUT.
edit_demo_doc() {  # KIND FROM TO OUT
  python3 - examples/demo/network.yaml "$1" "$2" "$3" >"$4" <<'PY'
import sys
path, kind, old, new = sys.argv[1:]
docs = open(path).read().split("\n---\n")
d = [d for d in docs if "kind: %s\ntenant: A\n" % kind in d][0]
print(d.replace(old, new))
PY
  grep -qF "$3" "$4" || die "examples/demo/network.yaml changed: cannot build the $1 change"
}
ctl_via() {  # ID rampartctl-args...: rampartctl against controller ID's REST API
  local id="$1"; shift
  RAMPART_SERVER="https://127.0.0.1:${API[$id]}" "$CTL" "$@"
}
stop_group() {  # PID SIGNAL: signals the process group and waits until every member is gone
  kill -"$2" -- "-$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 -- "-$1" 2>/dev/null || return 0; sleep 0.1; done
  die "process group $1 did not stop"
}
step "controllers ${IDS[*]} on etcd://127.0.0.1:$EC (lease ${TTL}s), APIs on 127.0.0.1:${API[ctl-a]} / ${API[ctl-b]}"
for id in "${IDS[@]}"; do start_controller "$id"; done
wait_for "both controllers registered" 30 members_are "ctl-a,ctl-b" || true
check "membership /rampart/controllers/" "ctl-a,ctl-b" "$(members)"

# The rendezvous owner, the same function as RendezvousOwner() in src/controller/server/controller.cc
# (FNV-1a of id, 0xff, host; splitmix64 finalizer; highest weight wins, ties to the smaller id).
predict_owner() {  # HOST ID...
  python3 - "$@" <<'PY'
import sys
M = (1 << 64) - 1
def mix(x):
    x = (x + 0x9e3779b97f4a7c15) & M
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M
    return x ^ (x >> 31)
def weight(i, h):
    x = 0xcbf29ce484222325
    for c in i.encode(): x = ((x ^ c) * 0x100000001b3) & M
    x = ((x ^ 0xff) * 0x100000001b3) & M
    for c in h.encode(): x = ((x ^ c) * 0x100000001b3) & M
    return mix(x)
host, ids = sys.argv[1], sys.argv[2:]
print(sorted(ids, key=lambda i: (-weight(i, host), i))[0])
PY
}

# ---- agents ----------------------------------------------------------------------------------
declare -A AGENT_PID
TARGETS="unix:$D/ctl-a.sock,unix:$D/ctl-b.sock"
start_agent() {  # HOST
  local h="$1" hd="$D/hosts/$1"
  setsid "$LAB" host exec "$h" -- "$AGENT" --host "$h" --controller "$TARGETS" \
    --tls-ca "$D/tls/ca.pem" --tls-cert "$D/tls/hosts/$h.pem" --tls-key "$D/tls/hosts/$h.key" \
    --ovsdb "unix:$hd/db.sock" --openflow "$hd/br-int.mgmt" --fwd-socket "$hd/fwd.sock" \
    --state-file "$hd/agent.state" >>"$hd/agent.log" 2>&1 &
  AGENT_PID[$h]=$!
  PIDS+=($!)
}
# Which controller HOST's agent is connected to, observed in the kernel: the agent process's
# socket inodes against the peers of the connections accepted on each controller's unix socket.
# An accepted unix socket lives in the CONNECTING process's network namespace, so `ss -x` runs in
# the host's namespace (where the agent runs), not in ours (where the controllers run).
# Prints the controller id, "none", or "ctl-a+ctl-b" while the agent holds connections to both.
connected_to() {  # HOST
  local pid inos
  pid=$(pgrep -s "${AGENT_PID[$1]}" -x rampart-agent | head -1) || true
  [ -n "$pid" ] || { echo none; return; }
  inos=$(find "/proc/$pid/fd" -type l -printf '%l\n' 2>/dev/null | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | paste -sd' ' -)
  "$LAB" host exec "$1" -- ss -xn 2>/dev/null | awk -v d="$D/" -v inos=" $inos " '
    $5 ~ "^" d "ctl-[ab]\\.sock$" && index(inos, " " $8 " ") { n = $5; sub(".*/", "", n); sub("\\.sock$", "", n); got[n] = 1 }
    END { s = ""; for (k in got) s = s (s == "" ? "" : "+") k; print (s == "" ? "none" : s) }'
}
wait_connected() {  # HOST ID SECONDS: until HOST's agent is connected to ID (and only to it)
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(connected_to "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

step "hosts: rampart-fwd and rampart-agent (--controller $TARGETS)"
for h in "${HOSTS[@]}"; do
  hd="$D/hosts/$h"
  "$LAB" host exec "$h" -- sh -c "ip link show rfw0 >/dev/null 2>&1 || ip link add rfw0 type veth peer name rfw0-fwd"
  setsid "$LAB" host exec "$h" -- "$FWD" --interface rfw0-fwd --workers 1 --fei-socket "$hd/fwd.sock" \
    >"$hd/fwd.log" 2>&1 &
  PIDS+=($!)
  wait_for "rampart-fwd on $h" 10 test -S "$hd/fwd.sock" || die "rampart-fwd did not start on $h"
  start_agent "$h"
done

step "VMs: 4 for tenant A, 4 for tenant B with the same addresses and MACs (as scripts/demo-lab)"
declare -A VMHOST=([a-vm1]=h1 [a-vm2]=h2 [a-vm3]=h3 [a-vm4]=h1 [b-vm1]=h2 [b-vm2]=h3 [b-vm3]=h1 [b-vm4]=h2)
for vm in a-vm1 a-vm2 a-vm3 a-vm4 b-vm1 b-vm2 b-vm3 b-vm4; do
  n=${vm#?-vm}; t=${vm%%-*}; T=${t^^}
  if [ "$n" -le 2 ]; then net=198.18.1; sw=1; else net=198.18.2; sw=2; fi
  "$LAB" vm add "${VMHOST[$vm]}" "$vm" --mac "02:00:00:00:0$sw:0$n" --ip "$net.1$n/24" --gw "$net.1" \
    --iface-id "$T/vm$n" >/dev/null
  mkdir -p "$D/www/$vm"; echo "$T/vm$n" >"$D/www/$vm/index.html"
  setsid "$LAB" exec "$vm" -- python3 -m http.server 80 --bind "$net.1$n" --directory "$D/www/$vm" >/dev/null 2>&1 &
  PIDS+=($!)
  setsid "$LAB" exec "$vm" -- iperf3 -s -p 5201 >/dev/null 2>&1 &
  PIDS+=($!)
  setsid "$LAB" exec "$vm" -- sh -c 'while true; do nc -l -p 22 >/dev/null 2>&1; done' &
  PIDS+=($!)
done

# ---- 1. ownership ----------------------------------------------------------------------------
declare -A OWNER
ownership() {  # LABEL ID...: every host's agent connected to the predicted owner among IDs
  local label="$1"; shift
  local h
  for h in "${HOSTS[@]}"; do
    OWNER[$h]=$(predict_owner "$h" "$@")
    local t0; t0=$(now_ns)
    wait_connected "$h" "${OWNER[$h]}" 30 || true
    check "$label: $h's agent connected to" "${OWNER[$h]}" "$(connected_to "$h")" \
      "rendezvous owner among $*; waited $(ms_since "$t0") ms"
  done
}
step "1. ownership: which controller serves which host"
printf '%-4s %-46s %-12s %-12s %s\n' "#" check expect observed ""
ownership "shared" "${IDS[@]}"
VICTIM=${OWNER[h1]}
SURVIVOR=ctl-a; [ "$VICTIM" = ctl-a ] && SURVIVOR=ctl-b
declare -A SHARE=()
for h in "${HOSTS[@]}"; do SHARE[${OWNER[$h]}]=1; done
[ "$(predict_owner h3 "${IDS[@]}")" = "$VICTIM" ] || echo "note: h3 is not owned by $VICTIM: the flow's far end stays"
check "both controllers own hosts" 2 "${#SHARE[@]}" "else the kill below would not move any host"

# ---- 2. apply + matrix -----------------------------------------------------------------------
step "2. rampartctl apply -f examples/demo/network.yaml through $VICTIM's API"
t0=$(now_ns)
ctl_via "$VICTIM" apply -f examples/demo/network.yaml
ok=0
while [ "$(ms_since "$t0")" -lt 60000 ]; do
  if "$LAB" exec a-vm1 -- curl -sf -m 1 -o /dev/null http://198.18.2.13/ &&
     "$LAB" exec b-vm1 -- curl -sf -m 1 -o /dev/null http://198.18.2.13/; then ok=1; break; fi
  sleep 0.2
done
echo "network usable after $(ms_since "$t0") ms (apply -> first allowed connection in both tenants)"
[ "$ok" = 1 ] || echo "failover: the network did not converge; the matrix shows what fails"

probe() {  # FROM DST KIND EXPECT WHY [CONTENT]
  local from="$1" dst="$2" kind="$3" expect="$4" why="$5" content="${6:-}" got=block out=""
  case "$kind" in
    http)  out=$("$LAB" exec "$from" -- curl -s -m 3 "http://$dst/" 2>/dev/null) && got=allow
           if [ "$got" = allow ] && [ -n "$content" ] && [ "$out" != "$content" ]; then got="wrong:$out"; fi ;;
    iperf) "$LAB" exec "$from" -- timeout 8 iperf3 -c "$dst" -p 5201 -t 1 --connect-timeout 2000 >/dev/null 2>&1 && got=allow ;;
    ssh)   "$LAB" exec "$from" -- nc -z -w 2 "$dst" 22 >/dev/null 2>&1 && got=allow ;;
    ping)  "$LAB" exec "$from" -- ping -c 1 -W 2 "$dst" >/dev/null 2>&1 && got=allow ;;
  esac
  check "$from -> $dst $kind" "$expect" "$got" "$why"
}
matrix() {  # A_SSH: whether tenant A's firewall allows tcp/22 (allow after the rule change)
  local a_ssh="$1"
  printf '%-4s %-46s %-12s %-12s %s\n' "#" "from -> to what" expect observed ""
  probe a-vm1 198.18.2.13 http  allow "A fw allows tcp/80 ls1->ls2, h1->h3" "A/vm3"
  probe a-vm1 198.18.2.14 iperf allow "A fw allows tcp/5201, same host"
  probe a-vm1 198.18.2.13 ssh   "$a_ssh" "A fw: tcp/22 $a_ssh"
  probe a-vm1 198.18.2.13 ping  block "A fw default drop"
  probe a-vm1 198.18.1.12 http  allow "A/vm2's vNIC policy allows tcp/80" "A/vm2"
  probe a-vm1 198.18.1.12 ssh   block "A/vm2's vNIC policy drops the rest"
  probe a-vm3 198.18.2.14 ping  allow "same switch ls2, no policy"
  probe b-vm1 198.18.2.13 http  allow "B's inline fw allows tcp/80, B/vm3 answers" "B/vm3"
  probe b-vm1 198.18.2.14 iperf allow "B's inline fw allows tcp/5201"
  probe b-vm1 198.18.2.13 ssh   block "B's inline fw default drop"
  probe b-vm1 198.18.1.12 http  allow "tenant B's vm2, not A's" "B/vm2"
  probe b-vm1 198.18.1.12 ssh   allow "B/vm2 has no vNIC policy"
}
step "2. traffic matrix, both controllers up"
matrix block

# ---- 3. kill -9 the owner of h1 during a flow ------------------------------------------------
# What HOST's agent changed since its log line FROM: the agent logs an applied revision only
# when it sent something to the switch or to rampart-fwd, so "no-op" is no such line; else the
# first one.
applied_since() {  # HOST FROM
  local line
  line=$(tail -n +"$(($2 + 1))" "$D/hosts/$1/agent.log" | grep -m1 'applied revision' || true)
  if [ -z "$line" ]; then echo "no-op"; else echo "${line#*rampart-agent: }"; fi
}
# The stream epoch of the revision HOST's agent holds (its state file is written after every
# apply, before the ack): a controller taking a host over gives it a fresh, higher epoch.
held_epoch() {  # HOST
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["revision"] >> 32)' "$D/hosts/$1/agent.state" 2>/dev/null || echo 0
}
wait_epoch_above() {  # HOST EPOCH SECONDS
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(held_epoch "$1")" -gt "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
log_lines() { wc -l <"$D/hosts/$1/agent.log"; }
flows() { "$LAB" host exec "$1" -- ovs-ofctl -O OpenFlow13 dump-flows br-int |
  sed -E 's/duration=[^,]*, //; s/n_packets=[^,]*, //; s/n_bytes=[^,]*, //; s/idle_age=[^,]*,? ?//' | sort; }
ORPHANS=()
for h in "${HOSTS[@]}"; do if [ "${OWNER[$h]}" = "$VICTIM" ]; then ORPHANS+=("$h"); fi; done
declare -A FLOWS_BEFORE LOG_AT EPOCH_AT
snapshot_hosts() {
  for h in "${HOSTS[@]}"; do FLOWS_BEFORE[$h]=$(flows "$h"); LOG_AT[$h]=$(log_lines "$h"); EPOCH_AT[$h]=$(held_epoch "$h"); done
}
snapshot_hosts

step "3. iperf3 a-vm1 (h1) -> A/vm3 (h3):5201 through A's firewall; kill -9 $VICTIM (owner of ${ORPHANS[*]})"
FLOW_S=25
setsid "$LAB" exec a-vm1 -- timeout $((FLOW_S + 15)) iperf3 -c 198.18.2.13 -p 5201 -t "$FLOW_S" -i 1 -J \
  --connect-timeout 3000 >"$D/iperf-failover.json" 2>"$D/iperf-failover.err" &
IPERF=$!
PIDS+=($IPERF)
iperf_t0=$(now_ns)
sleep 3
t_kill=$(now_ns)
stop_group "${CPID[$VICTIM]}" KILL
echo "$VICTIM killed $(( (t_kill - iperf_t0) / 1000000 )) ms into the flow"
probe a-vm1 198.18.2.13 ssh block "right after the kill: h1 still enforces"
declare -A MOVED_MS
for h in "${ORPHANS[@]}"; do
  if wait_connected "$h" "$SURVIVOR" 30; then MOVED_MS[$h]=$(ms_since "$t_kill"); else MOVED_MS[$h]=""; fi
done
t_moved=$(now_ns)
if proc_running "$IPERF"; then flow_at_move=running; else flow_at_move=ended; fi
check "membership after the lease expired" "$SURVIVOR" "$(members)"
for h in "${ORPHANS[@]}"; do
  check "$h's agent connected to (after kill)" "$SURVIVOR" "$(connected_to "$h")" \
    "$([ -n "${MOVED_MS[$h]}" ] && echo "${MOVED_MS[$h]} ms after the kill" || echo "not within 30 s of the kill"); bound 30 s, expected ~lease ${TTL} s + agent backoff <= 5 s"
done
for h in "${HOSTS[@]}"; do
  if [ "${OWNER[$h]}" = "$SURVIVOR" ]; then check "$h's agent stays with" "$SURVIVOR" "$(connected_to "$h")"; fi
done
check_resynced "the survivor" takeover
# The operator's view: `rampartctl status` through the survivor's API lists every host as served
# by it, agent connected, every sent revision acknowledged (exit 0; 3 while one lags).
st_rc=1
for _ in $(seq 50); do
  st_json=$(ctl_via "$SURVIVOR" status -o json 2>&1) && st_rc=0 || st_rc=$?
  [ "$st_rc" = 0 ] && break
  sleep 0.2
done
st_hosts=$(python3 -c 'import json,sys
c = json.loads(sys.stdin.read())["controller"]
print(",".join(sorted(h["host"] for h in c["hosts"] if h["owned"] and h["connected"] > 0 and h["acked"] == h["revision"])))' \
  <<<"$st_json" 2>/dev/null || echo "unreadable")
check "rampartctl status via $SURVIVOR: exit status" 0 "$st_rc"
check "hosts it serves in sync, per rampartctl status" "h1,h2,h3" "$st_hosts"
iperf_rc=0
wait "$IPERF" || iperf_rc=$?
# Every 1 s interval must carry data: the flow never stalled, before, during or after the takeover.
read -r ivals zero minmbit totalgb < <(python3 - "$D/iperf-failover.json" <<'PY' || echo "0 -1 0 0"
import json, sys
j = json.load(open(sys.argv[1]))
iv = [i["sum"] for i in j.get("intervals", [])]
bps = [i["bits_per_second"] for i in iv]
end = j.get("end", {}).get("sum_received", {}).get("bytes", 0)
print(len(iv), sum(1 for i in iv if i["bytes"] == 0), int(min(bps) / 1e6) if bps else 0, round(end / 1e9, 2))
PY
)
check "iperf3 through the failover: exit status" 0 "$iperf_rc" "$(cat "$D/iperf-failover.err" 2>/dev/null | head -1)"
check "iperf3 1 s intervals without data" 0 "$zero" "$ivals intervals, min ${minmbit} Mbit/s, ${totalgb} GB received"
check "the flow was still running when agents moved" running "$flow_at_move" \
  "${FLOW_S} s flow; kill at +$(( (t_kill - iperf_t0) / 1000000 )) ms, all moved by +$(( (t_moved - iperf_t0) / 1000000 )) ms"

step "3. traffic matrix, only $SURVIVOR up"
matrix block

# ---- 4. a change through the survivor; restart the victim ------------------------------------
step "4. rule change through $SURVIVOR's API: tenant A's firewall also allows tcp/22 (h1 -> h3, hosts of the dead $VICTIM)"
edit_demo_doc "Firewall" "destination_ports: [80, 5201]" "destination_ports: [22, 80, 5201]" "$D/fw-a.yaml"
wait_ssh() {  # EXPECT(allow|block) MS: until a-vm1 -> A/vm3:22 gives EXPECT (at most MS ms)
  local want="$1" limit="$2" t0 got
  t0=$(now_ns)
  while [ "$(ms_since "$t0")" -lt "$limit" ]; do
    if "$LAB" exec a-vm1 -- nc -z -w 1 198.18.2.13 22 >/dev/null 2>&1; then got=allow; else got=block; fi
    [ "$got" = "$want" ] && return 0
    sleep 0.1
  done
  return 1
}
t_change=$(now_ns)
ctl_via "$SURVIVOR" apply -f "$D/fw-a.yaml"
applied=$(ms_since "$t_change")
seen=""; if wait_ssh allow 30000; then seen=$(ms_since "$t_change"); fi
check "change via $SURVIVOR reaches h1/h3" allow "$([ -n "$seen" ] && echo allow || echo block)" \
  "apply returned in ${applied} ms; a-vm1 -> A/vm3:22 connects $([ -n "$seen" ] && echo "$seen ms" || echo "never (30 s)") after the apply started"

step "4. restart $VICTIM (same id): hosts shared again"
snapshot_hosts
t_restart=$(now_ns)
start_controller "$VICTIM"
wait_for "both controllers registered" 30 members_are "ctl-a,ctl-b" || true
check "membership after the restart" "ctl-a,ctl-b" "$(members)"
ownership "restarted" "${IDS[@]}"
echo "hosts shared again $(ms_since "$t_restart") ms after $VICTIM was started"
check_resynced "the restarted $VICTIM" hand-back

step "4. traffic matrix, both controllers up again (tcp/22 now allowed for tenant A)"
matrix allow

step "4. rule change back through the restarted $VICTIM's API"
t_change=$(now_ns)
ctl_via "$VICTIM" apply -f <(sed 's/destination_ports: \[22, 80, 5201\]/destination_ports: [80, 5201]/' "$D/fw-a.yaml")
applied=$(ms_since "$t_change")
seen=""; if wait_ssh block 30000; then seen=$(ms_since "$t_change"); fi
check "change via $VICTIM reaches h1/h3" block "$([ -n "$seen" ] && echo block || echo allow)" \
  "apply returned in ${applied} ms; a-vm1 -> A/vm3:22 refused $([ -n "$seen" ] && echo "$seen ms" || echo "never (30 s)") after the apply started (probe: nc -w 1)"
probe b-vm1 198.18.2.13 http allow "tenant B unaffected" "B/vm3"

# ---- 5. graceful stop of the other controller ------------------------------------------------
KEPT=()
for h in "${HOSTS[@]}"; do if [ "${OWNER[$h]}" = "$SURVIVOR" ]; then KEPT+=("$h"); fi; done
step "5. SIGTERM $SURVIVOR (owner of ${KEPT[*]}): its lease is revoked, $VICTIM takes over without waiting for the TTL"
for h in "${HOSTS[@]}"; do EPOCH_AT[$h]=$(held_epoch "$h"); done
t_stop=$(now_ns)
stop_group "${CPID[$SURVIVOR]}" TERM
for h in "${KEPT[@]}"; do
  if wait_connected "$h" "$VICTIM" 30; then MOVED_MS[$h]=$(ms_since "$t_stop"); else MOVED_MS[$h]=""; fi
done
check "membership after the stop" "$VICTIM" "$(members)"
for h in "${KEPT[@]}"; do
  check "$h's agent connected to (after SIGTERM)" "$VICTIM" "$(connected_to "$h")" \
    "$([ -n "${MOVED_MS[$h]}" ] && echo "${MOVED_MS[$h]} ms after SIGTERM" || echo "not within 30 s"); lease ${TTL} s"
  wait_epoch_above "$h" "${EPOCH_AT[$h]}" 20 || true
  if [ "$(held_epoch "$h")" -gt "${EPOCH_AT[$h]}" ]; then r=yes; else r=no; fi
  check "$h's agent holds a revision of a new epoch" yes "$r" "epoch ${EPOCH_AT[$h]} -> $(held_epoch "$h")"
done
step "5. vNIC policy change through $VICTIM's API: A/vm2 (on h2) also accepts tcp/22"
edit_demo_doc "VnicPolicy" "destination_ports: [80]" "destination_ports: [22, 80]" "$D/vnic-a.yaml"
t_change=$(now_ns)
ctl_via "$VICTIM" apply -f "$D/vnic-a.yaml"
applied=$(ms_since "$t_change")
seen=""
while [ "$(ms_since "$t_change")" -lt 30000 ]; do
  if "$LAB" exec a-vm1 -- nc -z -w 1 198.18.1.12 22 >/dev/null 2>&1; then seen=$(ms_since "$t_change"); break; fi
  sleep 0.1
done
check "vNIC change via $VICTIM reaches h2" allow "$([ -n "$seen" ] && echo allow || echo block)" \
  "apply returned in ${applied} ms; a-vm1 -> A/vm2:22 connects $([ -n "$seen" ] && echo "$seen ms" || echo "never (30 s)") after the apply started"
probe b-vm1 198.18.1.12 http allow "tenant B's vm2 on h2 still served" "B/vm2"
probe a-vm1 198.18.2.13 ssh block "A's firewall unchanged"

echo
if [ "$FAILS" -ne 0 ]; then
  echo "controller_failover: $FAILS of $N check(s) FAILED"
  exit 1
fi
echo "controller_failover: all $N checks agree"
