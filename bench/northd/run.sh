#!/usr/bin/env bash
# Logical stage vs OVN northd, on the same generated topology (docs/PERFORMANCE.md, "Logical
# stage vs OVN northd").
#
#   bench/northd/run.sh [--hosts N] [--ports N] [--tenants N] [--rules N] [--seed N] [--reps N]
#                       [--bench PATH/rampart-bench] [--out RESULT.json]
#
# 1. `rampart-bench logical` generates the topology, measures Rampart's logical stage (full
#    compute, memory; the controller's whole path with the physical stage; single changes through
#    the controller's per-object path) and writes the same topology as OVN_Northbound transact
#    requests (full + add-rule, move-port, add-port).
# 2. In a temp dir, without systemd: ovsdb-server for NB and for SB (databases created with
#    ovsdb-tool from Debian's ovn-central schemas, unix sockets only), ovn-northd between them.
# 3. Loads the full transaction and waits until northd has processed it (NB_Global sb_cfg, what
#    ovn-nbctl --wait=sb waits for); northd's RSS; each single change the same way; an empty
#    `ovn-nbctl --wait=sb sync` as the baseline of one northd round.
# 4. Prints a comparison table with ratios and writes everything as JSON (--out).
# Every process started here is stopped and the temp dir removed on exit (kept, with the logs,
# when RAMPART_KEEP_TMP=1).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
hosts=1000 ports=10000 tenants=100 rules=50000 seed=1 reps=7 out="" bench=""
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) hosts=$2; shift 2 ;;
    --ports) ports=$2; shift 2 ;;
    --tenants) tenants=$2; shift 2 ;;
    --rules) rules=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$bench" ]; then
  for b in "$root/build/bench/rampart-bench" "$root"/build-*/bench/rampart-bench; do
    if [ -x "$b" ]; then bench=$b; break; fi
  done
fi
[ -x "$bench" ] || { echo "run.sh: rampart-bench not found; build it or pass --bench PATH" >&2; exit 2; }
for tool in ovsdb-tool ovsdb-server ovn-northd ovn-nbctl python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install ovn-central ovn-common python3)" >&2; exit 2; }
done
schemas=/usr/share/ovn
[ -f "$schemas/ovn-nb.ovsschema" ] || { echo "run.sh: $schemas/ovn-nb.ovsschema missing (ovn-common)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/rampart-northd.XXXXXX)
cleanup() {
  for p in northd sb nb; do
    if [ -f "$tmp/$p.pid" ]; then
      pid=$(cat "$tmp/$p.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  if [ -n "${RAMPART_KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export OVS_RUNDIR=$tmp OVS_LOGDIR=$tmp OVS_DBDIR=$tmp OVN_RUNDIR=$tmp OVN_LOGDIR=$tmp OVN_DBDIR=$tmp

rss() { awk -v k="$2:" '$1 == k { print $2 * 1024 }' "/proc/$1/status"; }
now() { date +%s.%N; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== machine: $(nproc) cores, load $load_before, $(awk '/MemAvailable/ {printf "%.1f GiB available", $2/1048576}' /proc/meminfo)" >&2
echo "== rampart-bench logical --hosts $hosts --ports $ports --tenants $tenants --rules $rules --seed $seed" >&2
"$bench" logical --hosts "$hosts" --ports "$ports" --tenants "$tenants" --rules "$rules" --seed "$seed" \
  --reps "$reps" --json --ovn-out "$tmp/nb.json" > "$tmp/rampart.json"
load_after_rampart=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== OVN: ovsdb-server NB + SB, ovn-northd in $tmp" >&2
ovsdb-tool create "$tmp/nb.db" "$schemas/ovn-nb.ovsschema"
ovsdb-tool create "$tmp/sb.db" "$schemas/ovn-sb.ovsschema"
for db in nb sb; do
  ovsdb-server -vconsole:off --detach --no-chdir --pidfile="$tmp/$db.pid" --log-file="$tmp/$db.log" \
    --unixctl="$tmp/$db.ctl" --remote=punix:"$tmp/$db.sock" "$tmp/$db.db"
done
ovn-northd -vconsole:off --detach --no-chdir --pidfile="$tmp/northd.pid" --log-file="$tmp/northd.log" \
  --unixctl="$tmp/northd.ctl" --ovnnb-db=unix:"$tmp/nb.sock" --ovnsb-db=unix:"$tmp/sb.sock"
nbctl() { ovn-nbctl --db=unix:"$tmp/nb.sock" --timeout=3600 "$@"; }
nbctl init
python3 "$here/ovsdb_tx.py" --plain "$tmp/sb.sock" "$tmp/nb.sb-chassis.json"  # the hosts, as ovn-controllers register them
nbctl --wait=sb sync
northd_pid=$(cat "$tmp/northd.pid")
northd_rss0=$(rss "$northd_pid" VmRSS)

echo "== load: full transaction ($(du -h "$tmp/nb.json" | cut -f1))" >&2
full=$(python3 "$here/ovsdb_tx.py" "$tmp/nb.sock" "$tmp/nb.json" "$northd_pid" "$(cat "$tmp/nb.pid")" "$(cat "$tmp/sb.pid")")
northd_rss1=$(rss "$northd_pid" VmRSS)
northd_hwm=$(rss "$northd_pid" VmHWM)
sb_rss=$(rss "$(cat "$tmp/sb.pid")" VmRSS)
nb_rss=$(rss "$(cat "$tmp/nb.pid")" VmRSS)
lflows=$(python3 "$here/ovsdb_tx.py" --count "$tmp/sb.sock" OVN_Southbound Logical_Flow)
acls=$(python3 "$here/ovsdb_tx.py" --count "$tmp/nb.sock" OVN_Northbound ACL)

echo "== baseline: ovn-nbctl --wait=sb sync (nothing changed)" >&2
t0=$(now); nbctl --wait=sb sync; t1=$(now)
sync_s=$(python3 -c "print($t1 - $t0)")

changes="{}"
for c in add-rule move-port add-port; do
  echo "== change: $c" >&2
  r=$(python3 "$here/ovsdb_tx.py" "$tmp/nb.sock" "$tmp/nb.$c.json" "$northd_pid" "$(cat "$tmp/nb.pid")" "$(cat "$tmp/sb.pid")")
  changes=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d[sys.argv[2]]=json.loads(sys.argv[3]); print(json.dumps(d))' "$changes" "$c" "$r")
done
# Every logical flow northd wrote (the ACL matches among them) must parse: ovn-trace parses them
# all on start and warns about any that does not.
if command -v ovn-trace >/dev/null; then
  read -r dp port < <(python3 -c '
import json, sys
ops = json.load(open(sys.argv[1]))["params"][1:]
sw = next(o["row"]["name"] for o in ops if o.get("table") == "Logical_Switch")
lsp = next(o["row"]["name"] for o in ops if o.get("table") == "Logical_Switch_Port" and "type" not in o["row"])
print(sw, lsp)' "$tmp/nb.json")
  ovn-trace --db=unix:"$tmp/sb.sock" "$dp" "inport == \"$port\" && ip4 && tcp" > "$tmp/trace.out" 2>&1 || true
  if grep -q "parsing expression failed\|parsing actions failed" "$tmp/trace.out"; then
    echo "run.sh: logical flows that do not parse (ovn-trace):" >&2
    grep "parsing expression failed\|parsing actions failed" "$tmp/trace.out" | head -5 >&2
    exit 1
  fi
fi
# Warnings about the input (bad matches, unknown chassis); slow poll loops are expected here.
problems=$(grep -E '\|(WARN|ERR|EMER)\|' "$tmp/northd.log" | grep -v -E '\|(timeval|fatal_signal)\|' || true)
if [ -n "$problems" ]; then
  echo "run.sh: ovn-northd logged warnings or errors (first 5):" >&2
  echo "$problems" | head -5 >&2
fi

northd_json=$(cat <<JSON
{"version": "$(ovn-northd --version | head -1)", "full": $full, "sync_baseline_s": $sync_s,
 "changes": $changes, "rss_before_bytes": $northd_rss0, "rss_after_bytes": $northd_rss1,
 "peak_rss_bytes": $northd_hwm, "sb_ovsdb_rss_bytes": $sb_rss, "nb_ovsdb_rss_bytes": $nb_rss,
 "logical_flows": $lflows, "acls": $acls}
JSON
)
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load before $load_before, after rampart $load_after_rampart, at end $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/compare.py" "$tmp/rampart.json" "$northd_json" "$machine" "${out:-}"
