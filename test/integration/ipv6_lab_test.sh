#!/usr/bin/env bash
# IPv6 neighbour discovery answered by the OpenFlow flows, on real Open vSwitch (needs root):
# two lab hosts, examples/specs/ipv6-routed.yaml (ls1 2002:c612:1::/64 with vm1 on h1 and vm2,
# ls2 2002:c612:2::/64 with vm3 on h2 and vm4 on h1 under a vNIC policy, router r1 at ::1 on
# both). Records from the controller's real logical + physical stages (`rampartctl compile
# --records`), one rampart-agent and rampart-fwd per host, as in agent_records_test.sh.
#   - vm2 has no VM at all (no namespace, no port): vm1's solicitation for vm2's address can only
#     be answered by the flows. The advertisement is captured in vm1 and checked byte for byte
#     against a reference built from the captured solicitation (RFC 4861 7.2.4: S and O flags,
#     target link-layer address option, ICMPv6 checksum) and the kernel's neighbour entry must
#     hold vm2's MAC.
#   - vm1 resolves its gateway (R flag, the router port's MAC) and pings vm3 across r1 and the
#     Geneve tunnel; vm3 resolves its own gateway on h2.
#   - the VMs' duplicate address detection probes stay unanswered (their addresses leave the
#     tentative state instead of failing DAD).
#   - vm4 (vNIC policy, default drop) still resolves its gateway.
#   - a restarted agent reads the ND flows back from OVS equal to what it wants (no flow mod).
# Addresses: IPv6 only inside the lab's namespaces, in 2002:c612::/31 (the 6to4 image of the
# lab's 198.18.0.0/15) and link-local fe80::/64; the lab's own IPv4 addresses as usual.
# usage: ipv6_lab_test.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$HERE/../.."
LAB="$ROOT/scripts/lab"
FWD="$BUILD/src/fwd/rampart-fwd"
AGENT="$BUILD/src/agent/rampart-agent"
CTL="$BUILD/src/cli/rampartctl"

export RAMPART_LAB_DIR="${RAMPART_LAB_DIR:-$(mktemp -d /tmp/rl-v6.XXXXXX)}"
L="$RAMPART_LAB_DIR"
mkdir -p "$L"
KEEP_VAR=IPV6_TEST_KEEP
# shellcheck source=records_lab_lib.sh
. "$HERE/records_lab_lib.sh"

R1_LS1_MAC=02:52:bb:6f:44:61  # r1's port on ls1 (derived from tenant/router/switch; see the .expected file)
R1_LS2_MAC=02:52:bb:6f:3f:48
grep -q "nd_na_router($R1_LS1_MAC)" "$ROOT/examples/specs/ipv6-routed.expected" || { echo "router MAC changed"; exit 1; }
grep -q "nd_na_router($R1_LS2_MAC)" "$ROOT/examples/specs/ipv6-routed.expected" || { echo "router MAC changed"; exit 1; }

"$CTL" compile --spec "$ROOT/examples/specs/ipv6-routed.yaml" --records -o json >"$L/records.json"
"$LAB" up --hosts 2 >/dev/null
# The lab wants an IPv4 address per VM (unused here: the spec's switches are IPv6 only).
"$LAB" vm add h1 vm1 --mac 02:00:00:00:01:01 --ip 198.18.1.11/24 --iface-id A/vm1 >/dev/null
"$LAB" vm add h2 vm3 --mac 02:00:00:00:02:03 --ip 198.18.2.13/24 --iface-id A/vm3 >/dev/null
"$LAB" vm add h1 vm4 --mac 02:00:00:00:02:04 --ip 198.18.2.14/24 --iface-id A/vm4 >/dev/null

for h in h1 h2; do start_fwd "$h" 1; start_agent "$h"; done

wait_pipeline 40
check "agents installed the pipeline on both hosts ($n1 and $n2 flows)" test "$n1" -gt 40 -a "$n2" -gt 40
check "h1 has the advertisement's second table (16: nd_tll <- eth.src, IN_PORT)" \
  bash -c "'$LAB' host exec h1 -- ovs-ofctl -O OpenFlow13 dump-flows br-int table=16 | grep -qi 'ND_TLL'"
if [ "$n1" -le 40 ]; then tail -20 "$L/hosts/h1/agent.log"; fi

echo "== addresses, with duplicate address detection, after the flows are in"
add6() {  # vm addr/len gateway
  vm "$1" -- ip -6 addr add "$2" dev eth0
  vm "$1" -- ip -6 route replace default via "$3" dev eth0
}
# Capture everything ICMPv6 in vm1 from here on (NS, NA, echo), raw frames into a pcap.
setsid "$LAB" exec vm1 -- timeout 60 tcpdump -i eth0 -U -n -w "$L/vm1.pcap" icmp6 >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$L/vm1.pcap" ] && break; sleep 0.1; done
add6 vm1 2002:c612:1::11/64 2002:c612:1::1 || true
add6 vm3 2002:c612:2::13/64 2002:c612:2::1 || true
add6 vm4 2002:c612:2::14/64 2002:c612:2::1 || true
dad_done() {  # every VM's global address out of the tentative state, none failed
  for v in vm1 vm3 vm4; do
    out=$(vm "$v" -- ip -6 addr show dev eth0 scope global)
    case "$out" in *tentative*|*dadfailed*|"") return 1 ;; esac
  done
}
for _ in $(seq 60); do dad_done && break; sleep 0.1; done
check "the VMs' addresses passed duplicate address detection (their probes are not answered)" dad_done
for v in vm1 vm3 vm4; do vm "$v" -- ip -6 addr show dev eth0 scope global | grep -q dadfailed && vm "$v" -- ip -6 addr show dev eth0; done
# Not vacuous: the probes of vm1 and vm4 (both on h1) did reach the flows, and met the guard.
guard_hits() {
  flows h1 | grep 'table=12' | grep 'priority=60' | sed -nE 's/.*n_packets=([0-9]+).*/\1/p' | awk '{s+=$1} END {print s+0}'
}
check "h1's DAD guard flows (nd.ns && nd.sll==0 -> next) saw the probes ($(guard_hits) packets)" test "$(guard_hits)" -ge 2

echo "== vm1 asks for vm2's address: no vm2 exists, only the flows can answer"
vm vm1 -- ping -6 -c1 -W1 2002:c612:1::12 >/dev/null 2>&1 || true  # no echo reply: no vm2
neigh_is() {  # vm addr mac
  local out; out=$(vm "$1" -- ip -6 neigh show "$2" dev eth0)
  echo "$out" | grep -q "lladdr $3" && ! echo "$out" | grep -q FAILED
}
check "vm1's neighbour entry for 2002:c612:1::12 is vm2's MAC" neigh_is vm1 2002:c612:1::12 02:00:00:00:01:02

echo "== vm1 -> vm3 across r1 (vm1 on h1, vm3 on h2): both resolve their gateways"
vm vm1 -- ping -6 -c1 -W2 2002:c612:2::13 >/dev/null 2>&1 || true  # warms the underlay
check "ping -6 vm1 -> vm3 across r1 and the tunnel" vm vm1 -- ping -6 -c2 -i0.3 -W2 2002:c612:2::13
check "vm1's gateway entry is r1's MAC on ls1" neigh_is vm1 2002:c612:1::1 "$R1_LS1_MAC"
check "vm3's gateway entry is r1's MAC on ls2 (answered on h2)" neigh_is vm3 2002:c612:2::1 "$R1_LS2_MAC"

echo "== vm4 (vNIC policy, default drop) resolves its gateway"
vm vm4 -- ping -6 -c1 -W1 2002:c612:1::11 >/dev/null 2>&1 || true
check "vm4's gateway entry is r1's MAC on ls2" neigh_is vm4 2002:c612:2::1 "$R1_LS2_MAC"
check "ping -6 vm4 -> vm1 through its policy (echo allowed from the VM, reply tracked)" \
  vm vm4 -- ping -6 -c2 -i0.3 -W2 2002:c612:1::11

sleep 0.5  # tcpdump -U writes each frame as it comes
echo "== the advertisements vm1 received, byte for byte"
# Reference (RFC 4861 7.2.4) from each captured solicitation of vm1: Ethernet dst = the asker,
# src = the answer's MAC; IPv6 src = the target, dst = the asker, hop limit 255, payload 32;
# ICMPv6 136, code 0, flags S|O (|R for a router), the target, option 2 length 1 with the MAC;
# the checksum over the IPv6 pseudo-header.
check "every solicitation of vm1 for a known address got exactly the reference advertisement" \
  python3 - "$L/vm1.pcap" <<'PY'
import struct, sys
known = {"2002:c612:1::12": ("02:00:00:00:01:02", False), "2002:c612:1::1": ("02:52:bb:6f:44:61", True),
         "2002:c612:1::11": ("02:00:00:00:01:01", False)}
import ipaddress
data = open(sys.argv[1], "rb").read()
magic = struct.unpack("<I", data[:4])[0]
end = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
off, frames = 24, []
while off + 16 <= len(data):
    _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
    frames.append(data[off + 16:off + 16 + incl]); off += 16 + incl
def csum(src, dst, icmp):
    pseudo = src + dst + struct.pack(">I", len(icmp)) + b"\0\0\0\x3a"
    b = pseudo + icmp + (b"\0" if len(icmp) % 2 else b"")
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def mac(s): return bytes(int(x, 16) for x in s.split(":"))
ns = [f for f in frames if len(f) >= 78 and f[12:14] == b"\x86\xdd" and f[20] == 58 and f[54] == 135]
na = [f for f in frames if len(f) >= 78 and f[12:14] == b"\x86\xdd" and f[20] == 58 and f[54] == 136]
ok, answered = True, set()
for q in ns:
    target = str(ipaddress.IPv6Address(q[62:78]))
    if q[22:38] == bytes(16) or target not in known: continue   # DAD probe / unknown: not answered
    m, router = known[target]
    if target == "2002:c612:1::11": continue                       # vm1's own address: not asked
    flags = 0xe0000000 if router else 0x60000000
    icmp = bytearray(struct.pack(">BBHI", 136, 0, 0, flags) + q[62:78] + b"\x02\x01" + mac(m))
    struct.pack_into(">H", icmp, 2, csum(q[62:78], q[22:38], bytes(icmp)))
    want = q[6:12] + mac(m) + b"\x86\xdd" + q[14:18] + struct.pack(">HBB", 32, 58, 255) + q[62:78] + q[22:38] + bytes(icmp)
    got = [a for a in na if a[:len(want)] == want]
    if not got:
        print("no reference advertisement for", target, "; got:", [a.hex() for a in na]); ok = False
    answered.add(target)
for t in ("2002:c612:1::12", "2002:c612:1::1"):
    if t not in answered: print("vm1 never solicited", t); ok = False
print("solicitations %d, advertisements %d, checked %s" % (len(ns), len(na), sorted(answered)))
sys.exit(0 if ok else 1)
PY

echo "== agent restart: OVS's dump of the ND flows reads back equal to the desired ones"
dump() { flows h1 | sed -E 's/duration=[^,]*, //; s/n_packets=[^,]*, //; s/n_bytes=[^,]*, //' | sort; }
dump_before=$(dump)
applied_before=$(grep -c applied "$L/hosts/h1/agent.log" || true)
kill -- "-${AGENT_PID[h1]}"; wait "${AGENT_PID[h1]}" 2>/dev/null || true
start_agent h1
sleep 3  # its first apply compares OVS's dump with the desired flows; it logs only if it sent any
check "flows identical after the restart" test "$dump_before" = "$(dump)"
check "restarted agent sent no flow mod (no new 'applied' line)" \
  test "$(grep -c applied "$L/hosts/h1/agent.log")" -eq "$applied_before"

if [ "$FAILS" -ne 0 ]; then
  for f in "$L"/hosts/*/agent.log "$L"/hosts/*/fwd.log; do echo "--- $f"; tail -20 "$f"; done
  flows h1 | grep -E 'table=1[26]' | head -30
fi
echo "ipv6_lab_test: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
