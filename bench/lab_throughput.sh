#!/usr/bin/env bash
# iperf3 VM -> VM TCP throughput across two lab hosts (Geneve), three ways on the same VMs,
# bridges and run, alternating so drift hits each mode alike:
#   rampart  — both VMs protected: every frame goes through rampart-fwd on both hosts
#   none     — the same pipeline with the firewall steering removed (agent re-applied)
#   ovs-ct   — OVS's own conntrack firewall (ct(commit) flows, the approach OVN uses), same L2
# Prints one JSON object with the mean Gbit/s of each mode and the ratios. Needs root.
# usage: bench/lab_throughput.sh BUILD_DIR [SECONDS_PER_RUN] [ROUNDS] [FWD_WORKERS]
set -euo pipefail
BUILD="$(cd "$1" && pwd)"; SECS="${2:-5}"; ROUNDS="${3:-2}"; WORKERS="${4:-1}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB="$HERE/../scripts/lab"
export RAMPART_LAB_DIR="${RAMPART_LAB_DIR:-$(mktemp -d /tmp/rl-bt.XXXXXX)}"
L="$RAMPART_LAB_DIR"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || true; done
  "$LAB" down >/dev/null 2>&1 || true; rm -rf "$L"
}
trap cleanup EXIT
log() { echo "$*" >&2; }

"$LAB" up --hosts 2 >/dev/null 2>&1
"$LAB" vm add h1 a1 --mac 02:00:00:00:01:01 --ip 198.18.1.11/24 >/dev/null
"$LAB" vm add h2 b1 --mac 02:00:00:00:02:01 --ip 198.18.1.21/24 >/dev/null

config() {  # protect: yes|no
  local p1="" p2=""
  if [ "$1" = yes ]; then
    p1=", protect: {instance: 1, port: 1, tags: [101, 102]}"; p2=", protect: {instance: 1, port: 2, tags: [201, 202]}"
  fi
  cat > "$L/hosts.yaml" <<YAML
hosts: [{name: h1, underlay: 198.19.255.1}, {name: h2, underlay: 198.19.255.2}]
instances:
  - id: 1
    policy: |
      default: drop
      rules:
        - {id: 1, direction: from-vm, action: allow}
        - {id: 2, direction: to-vm, protocol: tcp, destination_ports: [5201], action: allow}
vms:
  - {name: a1, mac: "02:00:00:00:01:01", host: h1$p1}
  - {name: b1, mac: "02:00:00:00:02:01", host: h2$p2}
YAML
}
agent_once() {
  for h in h1 h2; do
    "$LAB" host exec "$h" -- "$BUILD/src/agent/rampart-agent" --static-config "$L/hosts.yaml" --host "$h" \
      --ovsdb "unix:$L/hosts/$h/db.sock" --openflow "$L/hosts/$h/br-int.mgmt" --fwd-socket "$L/hosts/$h/fwd.sock" --once >&2
  done
}
for h in h1 h2; do
  "$LAB" host exec "$h" -- ip link add rfw0 type veth peer name rfw0-fwd
  setsid "$LAB" host exec "$h" -- "$BUILD/src/fwd/rampart-fwd" --interface rfw0-fwd --workers "$WORKERS" \
    --fei-socket "$L/hosts/$h/fwd.sock" >"$L/fwd-$h.log" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 50); do [ -S "$L/hosts/h1/fwd.sock" ] && [ -S "$L/hosts/h2/fwd.sock" ] && break; sleep 0.1; done

ofport() { "$LAB" host exec "$1" -- ovs-vsctl get Interface "$2" ofport; }
ovs_ct_flows() {  # host local-vm-port local-mac remote-mac remote-underlay
  local h="$1" vmp; vmp="$(ofport "$h" "$2")"; local tun; tun="$(ofport "$h" geneve0)"
  local lmac="$3" rmac="$4" rul="$5"
  "$LAB" host exec "$h" -- ovs-ofctl -O OpenFlow13 replace-flows br-int - <<FLOWS
table=0,priority=300,in_port=$vmp,vlan_tci=0x1000/0x1000,actions=drop
table=0,priority=110,in_port=$tun,ip,actions=set_field:1->reg2,ct(table=1,zone=7)
table=0,priority=105,in_port=$tun,actions=set_field:1->reg2,goto_table:2
table=0,priority=100,in_port=$vmp,ip,actions=ct(table=1,zone=7)
table=0,priority=50,in_port=$vmp,actions=goto_table:2
table=0,priority=0,actions=drop
table=1,priority=100,ct_state=+trk+est,ip,actions=goto_table:2
table=1,priority=100,ct_state=+trk+rel,ip,actions=goto_table:2
table=1,priority=90,ct_state=+trk+new,tcp,dl_dst=$lmac,tp_dst=5201,actions=ct(commit,zone=7),goto_table:2
table=1,priority=80,ct_state=+trk+new,ip,in_port=$vmp,actions=ct(commit,zone=7),goto_table:2
table=1,priority=0,actions=drop
table=2,priority=100,dl_dst=$lmac,actions=output:$vmp
table=2,priority=100,reg2=0,dl_dst=$rmac,actions=set_field:5001->tun_id,set_field:$rul->tun_dst,output:$tun
table=2,priority=50,reg2=0,dl_dst=ff:ff:ff:ff:ff:ff,actions=output:$vmp,set_field:5001->tun_id,set_field:$rul->tun_dst,output:$tun
table=2,priority=50,reg2=1,dl_dst=ff:ff:ff:ff:ff:ff,actions=output:$vmp
table=2,priority=0,actions=drop
FLOWS
}

run_iperf() {
  "$LAB" exec a1 -- timeout $((SECS + 20)) iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
  local srv=$!
  for _ in $(seq 50); do "$LAB" exec a1 -- ss -ltn | grep -q ':5201 ' && break; sleep 0.1; done
  "$LAB" exec b1 -- timeout $((SECS + 20)) iperf3 -c 198.18.1.11 -p 5201 -t "$SECS" -J --connect-timeout 5000 >"$L/iperf.json" 2>/dev/null || true
  wait "$srv" 2>/dev/null || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.4f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' "$L/iperf.json" 2>/dev/null || echo 0
}

declare -A SUM
for m in rampart none ovs-ct; do SUM[$m]=""; done
for r in $(seq "$ROUNDS"); do
  for m in rampart none ovs-ct; do
    case "$m" in
      rampart) config yes; agent_once ;;
      none) config no; agent_once ;;
      ovs-ct)
        ovs_ct_flows h1 vm-a1 02:00:00:00:01:01 02:00:00:00:02:01 198.19.255.2
        ovs_ct_flows h2 vm-b1 02:00:00:00:02:01 02:00:00:00:01:01 198.19.255.1 ;;
    esac
    "$LAB" exec b1 -- ping -c2 -i0.2 -W2 198.18.1.11 >/dev/null 2>&1 || true
    g=$(run_iperf)
    log "round $r $m: $g Gbit/s"
    SUM[$m]="${SUM[$m]} $g"
  done
done
python3 - "${SUM[rampart]}" "${SUM[none]}" "${SUM[ovs-ct]}" "$SECS" "$ROUNDS" "$WORKERS" <<'PY'
import json, sys
r, n, c = ([float(x) for x in a.split()] for a in sys.argv[1:4])
mean = lambda v: sum(v) / len(v) if v else 0.0
out = {"seconds_per_run": int(sys.argv[4]), "rounds": int(sys.argv[5]), "fwd_workers": int(sys.argv[6]),
       "gbit_s": {"rampart": mean(r), "none": mean(n), "ovs_ct": mean(c)},
       "runs": {"rampart": r, "none": n, "ovs_ct": c}}
out["ratio_rampart_vs_none"] = out["gbit_s"]["rampart"] / out["gbit_s"]["none"] if out["gbit_s"]["none"] else None
out["ratio_rampart_vs_ovs_ct"] = out["gbit_s"]["rampart"] / out["gbit_s"]["ovs_ct"] if out["gbit_s"]["ovs_ct"] else None
print(json.dumps(out))
PY
