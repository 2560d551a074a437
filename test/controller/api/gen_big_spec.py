#!/usr/bin/env python3
"""Writes a large northbound spec for timing the REST API (docs/api.md "Cost"):
1 tenant, 1,000 Hosts, 40 switches, 1 router, 10,000 Ports, 100 VnicPolicies x 500 rules.
usage: gen_big_spec.py OUT.yaml"""
import sys

out = ["kind: Tenant\nname: A\n"]
for h in range(1000):
    out.append(f"kind: Host\nname: h{h}\nunderlay: 198.19.{h // 250}.{h % 250 + 1}\n")
for s in range(40):
    out.append(f"kind: LogicalSwitch\ntenant: A\nname: s{s}\ncidr: 198.18.{s}.0/24\n")
out.append("kind: LogicalRouter\ntenant: A\nname: r\nports:\n" +
           "".join(f"  - {{switch: s{s}, ip: 198.18.{s}.1}}\n" for s in range(40)))
for p in range(10000):
    s, i = p % 40, p // 40 + 2
    out.append(f"kind: Port\ntenant: A\nswitch: s{s}\nname: p{p}\n"
               f"mac: \"02:00:00:{p >> 16 & 255:02x}:{p >> 8 & 255:02x}:{p & 255:02x}\"\n"
               f"ips: [198.18.{s}.{i}]\nhost: h{p % 1000}\n")
for f in range(100):
    rules = "".join(f"  - {{id: {r + 1}, source: [198.18.{r % 40}.0/24], protocol: tcp, "
                    f"destination_ports: [{1000 + r}], action: allow}}\n" for r in range(500))
    out.append(f"kind: VnicPolicy\ntenant: A\nname: v{f}\napplied_to: [p{f * 100}]\nrules:\n{rules}")
with open(sys.argv[1], "w") as fh:
    fh.write("---\n".join(out))
