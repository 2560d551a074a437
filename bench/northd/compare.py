#!/usr/bin/env python3
"""Comparison table for bench/northd/run.sh: Rampart's logical stage vs OVN northd.

usage: compare.py RAMPART.json NORTHD_JSON_TEXT MACHINE_NOTE [OUT.json]
"""
import json
import sys


def main():
    rampart = json.load(open(sys.argv[1]))
    northd = json.loads(sys.argv[2])
    machine = sys.argv[3]
    out = sys.argv[4] if len(sys.argv) > 4 else ""
    p = rampart["params"]
    rules = rampart["spec"]["rules"]
    rf, inc = rampart["full"], rampart.get("incremental", {})
    nd_growth = max(northd["rss_after_bytes"] - northd["rss_before_bytes"], 0)
    rows = [
        # (label, rampart value, northd value, unit); ratio = northd / rampart
        ("full compute, wall", rf["wall_s"], northd["full"]["done_s"], "s"),
        ("full compute, CPU time (northd alone)", rf["cpu_s"], northd["full"]["cpu_s"], "s"),
        ("full compute, CPU time (northd + NB/SB ovsdb-server)", rf["cpu_s"], northd["full"]["cpu_all_s"], "s"),
        ("memory growth (RSS)", rf["rss_growth_bytes"] / 2**20, nd_growth / 2**20, "MiB"),
        ("bytes per rule", rf["bytes_per_rule"], nd_growth / rules if rules else 0, "B"),
    ]
    names = {"add_rule": "add-rule", "move_port": "move-port", "add_port": "add-port"}
    for k, n in names.items():
        if k in inc and n in northd["changes"]:
            rows.append((f"{n}, wall (Rampart median of {p['reps']})", inc[k]["median_ms"],
                         northd["changes"][n]["done_s"] * 1000, "ms"))
    for k, n in names.items():
        if k in inc and n in northd["changes"]:
            if "cpu_median_ms" in inc[k]:
                rows.append((f"{n}, CPU time (northd alone)", inc[k]["cpu_median_ms"],
                             northd["changes"][n]["cpu_s"] * 1000, "ms"))
            else:
                rows.append((f"{n}, northd CPU time vs Rampart wall", inc[k]["median_ms"],
                             northd["changes"][n]["cpu_s"] * 1000, "ms"))
    print(f"Logical stage vs OVN northd: {p['hosts']} hosts, {p['ports']} ports, {p['tenants']} tenants, "
          f"{rules} rules (seed {p['seed']})")
    print(f"machine: {machine}; {northd['version']}")
    print(f"Rampart output rows {rf['output_rows']}, northd logical flows {northd['logical_flows']}, "
          f"ACLs {northd['acls']}; empty --wait=sb round {northd['sync_baseline_s'] * 1000:.1f} ms")
    print()
    print(f"| {'measure':55} | {'Rampart':>12} | {'OVN northd':>12} | {'northd/Rampart':>14} |")
    print(f"|{'-' * 57}|{'-' * 14}:|{'-' * 14}:|{'-' * 16}:|")
    table = []
    for label, r, n, unit in rows:
        ratio = n / r if r else float("inf")
        table.append({"measure": label, "unit": unit, "rampart": r, "northd": n, "ratio": ratio})
        print(f"| {label + ' (' + unit + ')':55} | {r:12.3f} | {n:12.3f} | {ratio:13.1f}x |")
    targets = {
        "full compute >= 10x faster than northd": rows[0][2] / rows[0][1] >= 10 if rows[0][1] else False,
        "one-rule change <= 10 ms": inc.get("add_rule", {}).get("median_ms", 1e9) <= 10,
        "controller memory <= 2 KB per rule": rf["bytes_per_rule"] <= 2048,
    }
    print()
    for t, ok in targets.items():
        print(f"target {t}: {'met' if ok else 'MISSED'}")
    result = {"machine": machine, "rampart": rampart, "northd": northd, "table": table, "targets": targets}
    if out:
        with open(out, "w") as f:
            json.dump(result, f, indent=2)
        print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
