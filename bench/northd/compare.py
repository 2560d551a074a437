#!/usr/bin/env python3
"""Comparison table for bench/northd/run.sh: Rampart's logical stage vs OVN northd.

usage: compare.py RAMPART.json NORTHD_JSON_TEXT MACHINE_NOTE [OUT.json]

Rampart's figures (rampart-bench logical --json):
  full compute   the logical stage alone (LogicalStage::SetSpec from empty): the comparable to
                 northd's NB -> SB; also the controller's whole path from the stored objects
                 (rows of every object + Engine::Apply + PhysicalStage::ApplyForSnapshots + every
                 host's Snapshot, the per-host fan-out OVN leaves to each chassis' ovn-controller).
  single change  the controller's per-object path: (a) rows diff of the changed object,
                 (b) Engine::Apply, (c) PhysicalStage::Apply; a+b is the logical stage (comparable
                 to northd), a+b+c the controller's whole computation.
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
    cf = rampart.get("controller_full")
    nd_growth = max(northd["rss_after_bytes"] - northd["rss_before_bytes"], 0)
    nf = northd["full"]
    rows = [
        # (label, rampart value, northd value, unit); ratio = northd / rampart
        ("full compute, wall: logical stage (SetSpec)", rf["wall_s"], nf["done_s"], "s"),
        ("full compute, CPU: logical stage vs northd alone", rf["cpu_s"], nf["cpu_s"], "s"),
        ("full compute, CPU: logical stage vs northd + NB/SB ovsdb", rf["cpu_s"], nf["cpu_all_s"], "s"),
    ]
    if cf:
        snap = cf.get("snapshots", {}).get("cpu_s", 0.0)
        whole_cpu = cf["rows"]["cpu_s"] + cf["logical"]["cpu_s"] + cf["physical"]["cpu_s"] + snap
        rows += [
            ("full compute, CPU: controller rows+logical+physical+snapshots", whole_cpu, nf["cpu_s"], "s"),
            ("  of it rows of every stored object (ObjectRowsCache)", cf["rows"]["cpu_s"], nf["cpu_s"], "s"),
            ("  of it PhysicalStage::ApplyForSnapshots", cf["physical"]["cpu_s"], nf["cpu_s"], "s"),
        ]
        if "snapshots" in cf:
            rows.append(("  of it every host's Snapshot once (per-host fan-out)", snap, nf["cpu_s"], "s"))
    rows += [
        ("memory growth (RSS): logical stage", rf["rss_growth_bytes"] / 2**20, nd_growth / 2**20, "MiB"),
        ("bytes per rule: logical stage", rf["bytes_per_rule"], nd_growth / rules if rules else 0, "B"),
    ]
    if cf:
        rows += [
            ("memory growth (RSS): controller rows+engine+physical", cf["rss_growth_bytes"] / 2**20, nd_growth / 2**20, "MiB"),
            ("bytes per rule: controller rows+engine+physical", cf["bytes_per_rule"], nd_growth / rules if rules else 0, "B"),
        ]
    names = {"add_rule": "add-rule", "move_port": "move-port", "add_port": "add-port"}
    per_object = any("total_ms" in inc.get(k, {}) for k in names)
    for k, n in names.items():
        if k not in inc or n not in northd["changes"]:
            continue
        nc = northd["changes"][n]
        if per_object:
            r = inc[k]
            rows.append((f"{n}, wall: a+b+c median of {p['reps']}", r["total_ms"]["median"], nc["done_s"] * 1000, "ms"))
            rows.append((f"{n}, wall: a+b+c max of {p['reps']}", r["total_ms"]["max"], nc["done_s"] * 1000, "ms"))
            rows.append((f"{n}, CPU: a+b+c vs northd alone", r["total_cpu_ms"]["median"], nc["cpu_s"] * 1000, "ms"))
            rows.append((f"{n}, CPU: logical a+b vs northd alone", r["logical_cpu_median_ms"], nc["cpu_s"] * 1000, "ms"))
        else:  # an older result: whole-spec SetSpec per change
            rows.append((f"{n}, wall (whole-spec SetSpec)", inc[k]["median_ms"], nc["done_s"] * 1000, "ms"))
            rows.append((f"{n}, CPU (whole-spec SetSpec)", inc[k].get("cpu_median_ms", inc[k]["median_ms"]),
                         nc["cpu_s"] * 1000, "ms"))
    print(f"Logical stage vs OVN northd: {p['hosts']} hosts, {p['ports']} ports, {p['tenants']} tenants, "
          f"{rules} rules (seed {p['seed']})")
    print(f"machine: {machine}; {northd['version']}")
    print(f"Rampart logical output rows {rf['output_rows']}, northd logical flows {northd['logical_flows']}, "
          f"ACLs {northd['acls']}; empty --wait=sb round {northd['sync_baseline_s'] * 1000:.1f} ms")
    if per_object:
        print("single changes: (a) rows diff of the changed object (ObjectRowsCache), (b) Engine::Apply, "
              "(c) PhysicalStage::Apply; northd: NB commit -> SB written (--wait=sb)")
        for k, n in names.items():
            if k in inc:
                r = inc[k]
                print(f"  {n}: a {r['rows_diff_ms']['median']:.3f} + b {r['engine_apply_ms']['median']:.3f} + "
                      f"c {r['physical_apply_ms']['median']:.3f} ms (medians; max a+b+c {r['total_ms']['max']:.3f} ms)")
    print()
    print(f"| {'measure':68} | {'Rampart':>12} | {'OVN northd':>12} | {'northd/Rampart':>14} |")
    print(f"|{'-' * 70}|{'-' * 13}:|{'-' * 13}:|{'-' * 15}:|")
    table = []
    for label, r, n, unit in rows:
        ratio = n / r if r else float("inf")
        table.append({"measure": label, "unit": unit, "rampart": r, "northd": n, "ratio": ratio})
        print(f"| {label + ' (' + unit + ')':68} | {r:12.3f} | {n:12.3f} | {ratio:13.1f}x |")
    add = inc.get("add_rule", {})
    add_ms = add["total_ms"]["median"] if "total_ms" in add else add.get("median_ms", 1e9)
    add_max = add["total_ms"]["max"] if "total_ms" in add else add.get("max_ms", 1e9)
    bpr = cf["bytes_per_rule"] if cf else rf["bytes_per_rule"]
    targets = {
        "full compute >= 10x faster than northd (logical stage CPU vs northd CPU)":
            nf["cpu_s"] / rf["cpu_s"] >= 10 if rf["cpu_s"] else False,
        "full compute >= 10x faster than northd (wall, --wait=sb)":
            nf["done_s"] / rf["wall_s"] >= 10 if rf["wall_s"] else False,
        "one-rule change <= 10 ms (a+b+c, median wall)": add_ms <= 10,
        "one-rule change <= 10 ms (a+b+c, max wall)": add_max <= 10,
        "controller memory <= 2 KB per rule (rows+engine+physical)" if cf else
        "controller memory <= 2 KB per rule (logical stage)": bpr <= 2048,
        "logical stage memory <= 2 KB per rule": rf["bytes_per_rule"] <= 2048,
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
