#!/usr/bin/env bash
# rampart-agent --records in the real packet path (needs root): two lab hosts, the seed network
# (examples/specs/seed-attached.yaml: vm1/vm2 on ls1, vm3/vm4 on ls2, joined by r1; firewall
# `fw` attached to r1 with a policy route steering source 198.18.1.0/24 into it; rule: tcp
# 198.18.1.0/24 -> 198.18.2.0/24 ports 80,5201 allowed, default drop). The records come from the
# controller's real logical + physical stages (`rampartctl compile --records -o json`); each
# host runs rampart-fwd and rampart-agent. Real TCP stacks; every wait is bounded.
# usage: agent_records_test.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$HERE/../.."
LAB="$ROOT/scripts/lab"
FWD="$BUILD/src/fwd/rampart-fwd"
AGENT="$BUILD/src/agent/rampart-agent"
CTL="$BUILD/src/cli/rampartctl"

export RAMPART_LAB_DIR="${RAMPART_LAB_DIR:-$(mktemp -d /tmp/rl-ar.XXXXXX)}"
L="$RAMPART_LAB_DIR"
mkdir -p "$L"
KEEP_VAR=AGENT_TEST_KEEP
# shellcheck source=records_lab_lib.sh
. "$HERE/records_lab_lib.sh"

"$CTL" compile --spec "$ROOT/examples/specs/seed-attached.yaml" --records -o json >"$L/records.json"
"$LAB" up --hosts 2 >/dev/null
"$LAB" vm add h1 vm1 --mac 02:00:00:00:01:01 --ip 198.18.1.11/24 --gw 198.18.1.1 --iface-id A/vm1 >/dev/null
"$LAB" vm add h2 vm2 --mac 02:00:00:00:01:02 --ip 198.18.1.12/24 --gw 198.18.1.1 --iface-id A/vm2 >/dev/null
"$LAB" vm add h1 vm3 --mac 02:00:00:00:02:03 --ip 198.18.2.13/24 --gw 198.18.2.1 --iface-id A/vm3 >/dev/null
"$LAB" vm add h2 vm4 --mac 02:00:00:00:02:04 --ip 198.18.2.14/24 --gw 198.18.2.1 --iface-id A/vm4 >/dev/null

for h in h1 h2; do start_fwd "$h" 2; start_agent "$h"; done

wait_pipeline 50
check "agents installed the pipeline on both hosts ($n1 and $n2 flows)" test "$n1" -gt 50 -a "$n2" -gt 50
if [ "$n1" -le 50 ] || [ "${AGENT_DEBUG:-0}" = 1 ]; then tail -20 "$L/hosts/h1/agent.log"; fi
check "rampart-fwd on h1 has instance A/fw from the records" \
  bash -c "'$CTL' host instances --socket '$L/hosts/h1/fwd.sock' | grep -q 'A/fw'"

echo "== ls1-local traffic (vm1 h1 -> vm2 h2) crosses the tunnel, not the firewall"
# The first exchange also warms the underlay (the userspace datapath learns the peer's MAC).
vm vm1 -- ping -c2 -i0.3 -W2 198.18.1.12 >/dev/null || true
check "ping vm1 -> vm2 (same switch, other host)" vm vm1 -- ping -c2 -i0.2 -W2 198.18.1.12
check "rampart-fwd on h1 tracked none of it" \
  bash -c "! '$CTL' host conntrack list --socket '$L/hosts/h1/fwd.sock' --instance 1 --dst 198.18.1.12 | grep -q 198.18.1.12"

listening() { for _ in $(seq 100); do vm "$1" -- ss -ltn | grep -q ":$2 " && return 0; sleep 0.1; done; return 1; }
echo "== across r1 through the attached firewall"
vm vm4 -- timeout 60 python3 -m http.server 80 --bind 198.18.2.14 >/dev/null 2>&1 &
PIDS+=($!)
vm vm4 -- timeout 60 nc -l -p 22 >/dev/null 2>&1 &
PIDS+=($!)
listening vm4 80 || true; listening vm4 22 || true
vm vm1 -- ping -c1 -W1 198.18.1.1 >/dev/null 2>&1 || true
check "curl vm1 (198.18.1.11, h1) -> vm4:80 (198.18.2.14, h2) is allowed" vm vm1 -- curl -sf -m 5 -o /dev/null http://198.18.2.14/
check "rampart-fwd on h1 tracked the connection" \
  bash -c "'$CTL' host conntrack list --socket '$L/hosts/h1/fwd.sock' --instance 1 | grep -q 198.18.2.14"
check "vm1 -> vm4:22 is dropped (no answer within 2 s)" bash -c "! '$LAB' exec vm1 -- nc -z -w2 198.18.2.14 22"
check "ping vm1 -> vm4 across r1 is dropped by the firewall (default drop)" bash -c "! '$LAB' exec vm1 -- ping -c2 -i0.3 -W1 198.18.2.14"
check "vm3 (198.18.2.13, h1) -> vm4 on ls2 is not steered (ping works)" vm vm3 -- ping -c2 -i0.2 -W2 198.18.2.14

echo "== agent restart: an established connection survives, no flow churn"
vm vm4 -- timeout 60 sh -c "nc -l -p 5201 > $L/recv.txt" >/dev/null 2>&1 &
PIDS+=($!)
listening vm4 5201 || true
dump() { flows h1 | sed -E 's/duration=[^,]*, //; s/n_packets=[^,]*, //; s/n_bytes=[^,]*, //' | sort; }
dump_before=$(dump)
count_before=$(echo "$dump_before" | grep -c cookie=0x52 || true)
applied_before=$(grep -c applied "$L/hosts/h1/agent.log" || true)
mkfifo "$L/client.in"
vm vm1 -- timeout 40 sh -c "nc 198.18.2.14 5201 < '$L/client.in'" >/dev/null 2>&1 &
CLIENT=$!
exec 7>"$L/client.in"
echo before >&7
sleep 1
kill -- "-${AGENT_PID[h1]}"; wait "${AGENT_PID[h1]}" 2>/dev/null || true
sleep 0.5
start_agent h1
sleep 3
echo after >&7
sleep 1
exec 7>&-
wait "$CLIENT" 2>/dev/null || true
got=$("$LAB" exec vm4 -- cat $L/recv.txt 2>/dev/null | tr '\n' ' ' || true)
check "the connection carried data before and after the agent restart (got '$got')" test "$got" = "before after "
dump_after=$(dump)
count_after=$(echo "$dump_after" | grep -c cookie=0x52 || true)
check "flow count unchanged ($count_before -> $count_after)" test "$count_before" = "$count_after"
check "flows identical after the restart" test "$dump_before" = "$dump_after"
check "restarted agent sent no flow mod and made no FEI change (no new 'applied' line)" \
  test "$(grep -c applied "$L/hosts/h1/agent.log")" -eq "$applied_before"

if [ "$FAILS" -ne 0 ]; then
  for f in "$L"/hosts/*/agent.log "$L"/hosts/*/fwd.log; do echo "--- $f"; tail -20 "$f"; done
fi
echo "agent_records_test: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
