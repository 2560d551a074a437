# Shared by the lab tests that run rampart-fwd + rampart-agent --records on two lab hosts
# (agent_records_test.sh, ipv6_lab_test.sh, port_security_lab_test.sh). Source it after setting LAB (scripts/lab), FWD,
# AGENT, L (the lab directory, $RAMPART_LAB_DIR) and KEEP_VAR (the name of the environment
# variable that, set to 1, keeps the lab and its daemons for debugging). It installs the EXIT trap.
PIDS=()
FAILS=0
cleanup() {
  if [ "${!KEEP_VAR:-0}" = 1 ]; then echo "kept: RAMPART_LAB_DIR=$L (daemons running)"; return; fi
  # Daemons run in their own process groups (setsid): stop each whole group.
  for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$LAB" down >/dev/null 2>&1 || true
  rm -rf "$L"
}
trap cleanup EXIT

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
check() { local what="$1"; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
vm() { "$LAB" exec "$@"; }

start_fwd() {  # HOST WORKERS: rampart-fwd on the host's software port, FEI on $L/hosts/HOST/fwd.sock
  "$LAB" host exec "$1" -- sh -c "ip link show rfw0 >/dev/null 2>&1 || ip link add rfw0 type veth peer name rfw0-fwd"
  setsid "$LAB" host exec "$1" -- "$FWD" --interface rfw0-fwd --workers "$2" --fei-socket "$L/hosts/$1/fwd.sock" \
    >>"$L/hosts/$1/fwd.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do [ -S "$L/hosts/$1/fwd.sock" ] && return 0; sleep 0.1; done
  echo "rampart-fwd on $1 did not start"; cat "$L/hosts/$1/fwd.log"; return 1
}
declare -A AGENT_PID
start_agent() {  # HOST: rampart-agent applying $L/records.json to the host
  setsid "$LAB" host exec "$1" -- "$AGENT" --records "$L/records.json" --host "$1" \
    --ovsdb "unix:$L/hosts/$1/db.sock" --openflow "$L/hosts/$1/br-int.mgmt" \
    --fwd-socket "$L/hosts/$1/fwd.sock" --interval 1 >>"$L/hosts/$1/agent.log" 2>&1 &
  PIDS+=($!)
  AGENT_PID[$1]=$!
}

flows() { "$LAB" host exec "$1" -- ovs-ofctl -O OpenFlow13 dump-flows br-int; }

# Waits (20 s at most) until both agents applied and h1 and h2 hold more than MIN of Rampart's
# flows (cookie 0x52...); leaves the counts in n1 and n2.
wait_pipeline() {  # MIN
  n1=0; n2=0
  for _ in $(seq 100); do
    n1=$(flows h1 | grep -c 'cookie=0x52' || true); n2=$(flows h2 | grep -c 'cookie=0x52' || true)
    [ "$n1" -gt "$1" ] && [ "$n2" -gt "$1" ] && grep -q applied "$L/hosts/h1/agent.log" && grep -q applied "$L/hosts/h2/agent.log" && break
    sleep 0.2
  done
}
