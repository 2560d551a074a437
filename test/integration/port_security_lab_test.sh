#!/usr/bin/env bash
# L3 port security (anti-spoofing) on real Open vSwitch (needs root): two lab hosts, records from
# the controller's real logical + physical stages (`rampartctl compile --records`) for a spec
# written below, one rampart-agent and rampart-fwd per host (records_lab_lib.sh).
#   ls1 198.18.1.0/24:     vm1 (h1) .11, vm2 (h1) .12, vm3 (h2) .13
#   ls6 2002:c612:1::/64:  vm61 (h1) ::11, vm62 (h1) ::12, vm63 (h2) ::13
# Each check has its positive control (the same thing with the VM's own address arrives), so a
# broken network cannot pass for a working port security:
#   - vm1 gives itself vm2's address as a secondary address and pings vm3 from it (with a static
#     neighbour entry, so only the IP check can stop it): nothing arrives at vm3 (captured there);
#     pings from its own address arrive. The same for IPv6 (vm61 with vm62's address -> vm63).
#   - vm1 sends gratuitous ARP replies (raw socket) for its own address and for vm2's: vm3
#     receives the first (and learns it, arp_accept=1) and never the second; vm3's entry for
#     vm2's address keeps vm2's MAC.
#   - vm61 sends unsolicited neighbour advertisements (override flag) to vm63 for its own address
#     and for vm62's: only the first arrives; vm63's entry for ::12 keeps vm62's MAC.
#   - the drop flows' packet counters on h1 grew; DAD and neighbour discovery still work.
# Addresses: lab ranges only (198.18.0.0/15, 2002:c612::/31 inside the lab's namespaces).
# usage: port_security_lab_test.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$HERE/../.."
LAB="$ROOT/scripts/lab"
FWD="$BUILD/src/fwd/rampart-fwd"
AGENT="$BUILD/src/agent/rampart-agent"
CTL="$BUILD/src/cli/rampartctl"

export RAMPART_LAB_DIR="${RAMPART_LAB_DIR:-$(mktemp -d /tmp/rl-ps.XXXXXX)}"
L="$RAMPART_LAB_DIR"
mkdir -p "$L"
KEEP_VAR=PORTSEC_TEST_KEEP
# shellcheck source=records_lab_lib.sh
. "$HERE/records_lab_lib.sh"

cat >"$L/spec.yaml" <<'EOF'
kind: Tenant
name: A
---
kind: Host
name: h1
underlay: 198.19.255.1
---
kind: Host
name: h2
underlay: 198.19.255.2
---
kind: LogicalSwitch
tenant: A
name: ls1
cidr: 198.18.1.0/24
---
kind: LogicalSwitch
tenant: A
name: ls6
cidr: 2002:c612:1::/64
---
{kind: Port, tenant: A, switch: ls1, name: vm1, mac: "02:00:00:00:01:01", ips: [198.18.1.11], host: h1}
---
{kind: Port, tenant: A, switch: ls1, name: vm2, mac: "02:00:00:00:01:02", ips: [198.18.1.12], host: h1}
---
{kind: Port, tenant: A, switch: ls1, name: vm3, mac: "02:00:00:00:01:03", ips: [198.18.1.13], host: h2}
---
{kind: Port, tenant: A, switch: ls6, name: vm61, mac: "02:00:00:00:06:01", ips: ["2002:c612:1::11"], host: h1}
---
{kind: Port, tenant: A, switch: ls6, name: vm62, mac: "02:00:00:00:06:02", ips: ["2002:c612:1::12"], host: h1}
---
{kind: Port, tenant: A, switch: ls6, name: vm63, mac: "02:00:00:00:06:03", ips: ["2002:c612:1::13"], host: h2}
EOF
"$CTL" compile --spec "$L/spec.yaml" --records -o json >"$L/records.json"
"$CTL" compile --spec "$L/spec.yaml" --host h1 >"$L/compile-h1.txt"
check "the compiled flows carry port security (ip4.src, arp.spa, ip6.src, nd.na rows)" \
  bash -c "grep -q 'ip4.src==198.18.1.11' '$L/compile-h1.txt' && grep -q 'arp.spa==198.18.1.11' '$L/compile-h1.txt' &&
           grep -q 'ip6.src==fe80::ff:fe00:601' '$L/compile-h1.txt' && grep -q 'nd.na && nd.target==2002:c612:1::11' '$L/compile-h1.txt'"

"$LAB" up --hosts 2 >/dev/null
"$LAB" vm add h1 vm1 --mac 02:00:00:00:01:01 --ip 198.18.1.11/24 --iface-id A/vm1 >/dev/null
"$LAB" vm add h1 vm2 --mac 02:00:00:00:01:02 --ip 198.18.1.12/24 --iface-id A/vm2 >/dev/null
"$LAB" vm add h2 vm3 --mac 02:00:00:00:01:03 --ip 198.18.1.13/24 --iface-id A/vm3 >/dev/null
# The lab wants an IPv4 address per VM; the IPv6 VMs' are unused (and dropped by their ports).
"$LAB" vm add h1 vm61 --mac 02:00:00:00:06:01 --ip 198.18.6.11/24 --iface-id A/vm61 >/dev/null
"$LAB" vm add h1 vm62 --mac 02:00:00:00:06:02 --ip 198.18.6.12/24 --iface-id A/vm62 >/dev/null
"$LAB" vm add h2 vm63 --mac 02:00:00:00:06:03 --ip 198.18.6.13/24 --iface-id A/vm63 >/dev/null
vm vm3 -- sysctl -qw net.ipv4.conf.eth0.arp_accept=1

for h in h1 h2; do start_fwd "$h" 1; start_agent "$h"; done
wait_pipeline 60
check "agents installed the pipeline on both hosts ($n1 and $n2 flows)" test "$n1" -gt 60 -a "$n2" -gt 60
if [ "$n1" -le 60 ]; then tail -20 "$L/hosts/h1/agent.log"; fi

# IPv6 addresses after the flows are in: duplicate address detection runs through port security.
for v in 1 2 3; do vm "vm6$v" -- ip -6 addr add "2002:c612:1::1$v/64" dev eth0; done
dad_done() {
  for v in vm61 vm62 vm63; do
    out=$(vm "$v" -- ip -6 addr show dev eth0)
    case "$out" in *tentative*|*dadfailed*) return 1 ;; esac
    echo "$out" | grep -q 'scope global' || return 1
  done
}
for _ in $(seq 60); do dad_done && break; sleep 0.1; done
check "the IPv6 VMs' addresses passed duplicate address detection (DAD from :: passes port security)" dad_done

# Packet counters of h1's port security drop flows (table 10, priorities 110 and 140).
drops() {
  flows h1 | grep 'table=10,' | grep -E 'priority=(110|140),' | sed -nE 's/.*n_packets=([0-9]+).*/\1/p' |
    awk '{s+=$1} END {print s+0}'
}
# A capture in VM $1 of filter $2 into $L/$1.pcap; waits until tcpdump listens.
capture() {
  setsid "$LAB" exec "$1" -- timeout 40 tcpdump -i eth0 -U -n -w "$L/$1.pcap" "$2" >"$L/$1.tcpdump.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do grep -q listening "$L/$1.tcpdump.log" 2>/dev/null && return 0; sleep 0.1; done
}
# Frames in a pcap matching a tcpdump filter.
count() { tcpdump -r "$1" -n "$2" 2>/dev/null | wc -l; }
neigh_mac() { vm "$1" -- ip "$2" neigh show "$3" dev eth0 | sed -nE 's/.*lladdr ([0-9a-f:]+).*/\1/p'; }

echo "== IPv4: vm1 pings vm3 from its own address, then from vm2's (a secondary address of vm1)"
vm vm1 -- ping -c1 -W2 198.18.1.13 >/dev/null 2>&1 || true  # warms the underlay (first frame can be lost)
vm vm61 -- ping -6 -c1 -W2 2002:c612:1::13 >/dev/null 2>&1 || true
capture vm3 "icmp or arp"
check "vm1 -> vm3 from its own address (198.18.1.11), across the tunnel" vm vm1 -- ping -c2 -i0.3 -W2 198.18.1.13
check "vm3 -> vm2 (vm3 learns vm2's MAC for 198.18.1.12)" vm vm3 -- ping -c1 -W2 198.18.1.12
vm vm1 -- ip addr add 198.18.1.12/32 dev eth0
vm vm1 -- ip neigh replace 198.18.1.13 lladdr 02:00:00:00:01:03 dev eth0 nud permanent
drops_before=$(drops)
vm vm1 -- ping -c3 -i0.3 -W1 -I 198.18.1.12 198.18.1.13 >/dev/null 2>&1 && fail "vm1 got echo replies for a spoofed source" || true
check "and from its own address still, with the secondary address present" vm vm1 -- ping -c1 -W2 -I 198.18.1.11 198.18.1.13

echo "== IPv4: gratuitous ARP replies from vm1 for its own address and for vm2's"
vm vm3 -- ip neigh flush to 198.18.1.11 dev eth0 2>/dev/null || true
garp() {  # spa: a broadcast ARP reply with sha = vm1's MAC, spa = tpa = the address
  vm vm1 -- python3 - "$1" <<'PY'
import socket, sys
ip = socket.inet_aton(sys.argv[1]); mac = bytes.fromhex("020000000101")
frame = b"\xff" * 6 + mac + b"\x08\x06" + bytes([0, 1, 8, 0, 6, 4, 0, 2]) + mac + ip + b"\xff" * 6 + ip
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for _ in range(3): s.send(frame)
PY
}
garp 198.18.1.11
garp 198.18.1.12
sleep 1  # tcpdump -U writes each frame as it comes
check "vm3 received vm1's gratuitous ARP for its own address" \
  test "$(count "$L/vm3.pcap" 'arp and ether src 02:00:00:00:01:01 and arp[14:4] = 0xc612010b')" -ge 1
check "vm3 learned 198.18.1.11 -> vm1's MAC from it" test "$(neigh_mac vm3 -4 198.18.1.11)" = 02:00:00:00:01:01
check "vm3 received no ARP from vm1 claiming 198.18.1.12" \
  test "$(count "$L/vm3.pcap" 'arp and ether src 02:00:00:00:01:01 and arp[14:4] = 0xc612010c')" -eq 0
check "vm3's entry for 198.18.1.12 is still vm2's MAC" test "$(neigh_mac vm3 -4 198.18.1.12)" = 02:00:00:00:01:02
check "vm3 received no packet from 198.18.1.12 but vm2's own (echo replies)" \
  test "$(count "$L/vm3.pcap" 'icmp and src host 198.18.1.12 and ether src 02:00:00:00:01:01')" -eq 0
check "vm3 received vm1's pings from its own address" \
  test "$(count "$L/vm3.pcap" 'icmp[icmptype] = icmp-echo and src host 198.18.1.11')" -ge 2
check "h1's port security drop flows counted the spoofed frames ($drops_before -> $(drops))" test "$(drops)" -ge "$((drops_before + 6))"

echo "== IPv6: vm61 pings vm63 from its own address, then from vm62's"
capture vm63 "icmp6"
check "vm61 -> vm63 from its own address" vm vm61 -- ping -6 -c2 -i0.3 -W2 2002:c612:1::13
check "vm63 -> vm62 (vm63 learns vm62's MAC for ::12)" vm vm63 -- ping -6 -c1 -W2 2002:c612:1::12
vm vm61 -- ip -6 addr add 2002:c612:1::12/128 dev eth0 nodad
vm vm61 -- ip -6 neigh replace 2002:c612:1::13 lladdr 02:00:00:00:06:03 dev eth0 nud permanent
drops_before=$(drops)
vm vm61 -- ping -6 -c3 -i0.3 -W1 -I 2002:c612:1::12 2002:c612:1::13 >/dev/null 2>&1 && fail "vm61 got echo replies for a spoofed source" || true
check "and from its own address still" vm vm61 -- ping -6 -c1 -W2 -I 2002:c612:1::11 2002:c612:1::13

echo "== IPv6: unsolicited neighbour advertisements from vm61 to vm63, for its own address and for vm62's"
unsolicited_na() {  # target: unicast to vm63, override flag, target link-layer address = vm61's MAC
  vm vm61 -- python3 - "$1" <<'PY'
import socket, struct, sys
src = socket.inet_pton(socket.AF_INET6, "2002:c612:1::11"); dst = socket.inet_pton(socket.AF_INET6, "2002:c612:1::13")
target = socket.inet_pton(socket.AF_INET6, sys.argv[1]); mac = bytes.fromhex("020000000601")
icmp = bytearray(struct.pack(">BBHI", 136, 0, 0, 0x20000000) + target + b"\x02\x01" + mac)
pseudo = src + dst + struct.pack(">I", len(icmp)) + b"\0\0\0\x3a" + bytes(icmp)
s = sum(struct.unpack(">%dH" % (len(pseudo) // 2), pseudo))
while s >> 16: s = (s & 0xffff) + (s >> 16)
struct.pack_into(">H", icmp, 2, ~s & 0xffff)
ip6 = struct.pack(">IHBB", 0x60000000, len(icmp), 58, 255) + src + dst
frame = bytes.fromhex("020000000603") + mac + b"\x86\xdd" + ip6 + bytes(icmp)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for _ in range(3): s.send(frame)
PY
}
unsolicited_na 2002:c612:1::11
unsolicited_na 2002:c612:1::12
sleep 1  # tcpdump -U writes each frame as it comes
# ICMPv6 at a fixed offset (no extension headers): type at ip6[40], the target at ip6[48..63].
na_for() { count "$L/vm63.pcap" "icmp6 and ip6[40] = 136 and ether src 02:00:00:00:06:01 and ip6[60:4] = $1"; }
check "vm63 received vm61's advertisements for its own address" test "$(na_for 0x00000011)" -ge 1
check "vm63 received no advertisement from vm61 claiming ::12" test "$(na_for 0x00000012)" -eq 0
check "vm63's entry for 2002:c612:1::12 is still vm62's MAC" test "$(neigh_mac vm63 -6 2002:c612:1::12)" = 02:00:00:00:06:02
check "vm63 received no packet from 2002:c612:1::12 sent by vm61" \
  test "$(count "$L/vm63.pcap" 'icmp6 and src host 2002:c612:1::12 and ether src 02:00:00:00:06:01')" -eq 0
check "vm63 received vm61's pings from its own address" \
  test "$(count "$L/vm63.pcap" 'icmp6 and ip6[40] = 128 and src host 2002:c612:1::11')" -ge 2
check "h1's port security drop flows counted the spoofed frames ($drops_before -> $(drops))" test "$(drops)" -ge "$((drops_before + 6))"

if [ "$FAILS" -ne 0 ]; then
  for f in "$L"/hosts/*/agent.log; do echo "--- $f"; tail -20 "$f"; done
  flows h1 | grep 'table=10,' | head -60
fi
echo "port_security_lab_test: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
