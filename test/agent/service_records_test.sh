#!/usr/bin/env bash
# ServiceVM records in the real packet path (needs root): the seed network
# (examples/specs/seed-attached.yaml, firewall `fw` attached to r1) with its web rule redirecting
# to a ServiceVM A/ips; `rampartctl compile --records` gives the Instance/FwRule/Service rows.
# No partner can attach through the SVMI yet, so rampart-fwd applies the service's on_failure:
#   allow -> the connection and its replies pass; drop -> nothing passes; no Service row ->
#   dropped as an unknown service. An agent restart with services present changes nothing.
# usage: service_records_test.sh BUILD_DIR
set -euo pipefail
BUILD="$(cd "$1" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$HERE/../.."
LAB="$ROOT/scripts/lab"
FWD="$BUILD/src/fwd/rampart-fwd"
AGENT="$BUILD/src/agent/rampart-agent"
CTL="$BUILD/src/cli/rampartctl"

export RAMPART_LAB_DIR="${RAMPART_LAB_DIR:-$(mktemp -d /tmp/rl-svc.XXXXXX)}"
L="$RAMPART_LAB_DIR"
mkdir -p "$L"
KEEP_VAR=SERVICE_TEST_KEEP
# shellcheck source=../integration/records_lab_lib.sh
. "$ROOT/test/integration/records_lab_lib.sh"

records() {  # ON_FAILURE|none: writes $L/records.json (atomically: the agent re-reads it every second)
  # The spec: seed-attached with its web rule redirecting to ServiceVM A/ips; the records come
  # from the controller's real stages. "none" strips the Service rows afterwards (a host that
  # receives a redirect rule without its service: rampart-fwd must fail closed).
  python3 - "$ROOT/examples/specs/seed-attached.yaml" "$L/spec.yaml" "$1" <<'PY'
import sys
spec = open(sys.argv[1]).read()
assert spec.count("    action: allow\n") == 1
spec = spec.replace("    action: allow\n", "    action: redirect\n    redirect_to: ips\n")
on_failure = "drop" if sys.argv[3] == "none" else sys.argv[3]
spec += "---\nkind: ServiceVM\ntenant: A\nname: ips\non_failure: %s\n" % on_failure
open(sys.argv[2], "w").write(spec)
PY
  "$CTL" compile --spec "$L/spec.yaml" --records -o json >"$L/compiled.json"
  python3 - "$L/compiled.json" "$L/records.tmp" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for h in d["hosts"]:
    if sys.argv[3] == "none":
        h["records"] = [r for r in h["records"] if r["table"] != "Service"]
json.dump(d, open(sys.argv[2], "w"))
PY
  mv "$L/records.tmp" "$L/records.json"
}
records allow

"$LAB" up --hosts 2 >/dev/null
"$LAB" vm add h1 vm1 --mac 02:00:00:00:01:01 --ip 198.18.1.11/24 --gw 198.18.1.1 --iface-id A/vm1 >/dev/null
"$LAB" vm add h2 vm4 --mac 02:00:00:00:02:04 --ip 198.18.2.14/24 --gw 198.18.2.1 --iface-id A/vm4 >/dev/null
for h in h1 h2; do start_fwd "$h" 2; start_agent "$h"; done
wait_pipeline 50

S1="$L/hosts/h1/fwd.sock"
svc() { "$CTL" host services --socket "$S1" -o json; }
counter() {  # NAME FIELD: a counter of A/NAME in `host services -o json` (registered or not)
  svc | python3 -c "
import json, sys
d = json.load(sys.stdin)
for e in d['services'] + d['unregistered']:
    if e['tenant'] == 'A' and e['name'] == '$1': print(e['counters']['$2']); break
else: print(-1)"
}
wait_on_failure() {  # VALUE|none: until h1's rampart-fwd holds A/ips with that on_failure (or none)
  for _ in $(seq 50); do
    got=$(svc | python3 -c "
import json, sys
print(next((e['on_failure'] for e in json.load(sys.stdin)['services'] if e['name'] == 'ips'), 'none'))")
    [ "$got" = "$1" ] && return 0
    sleep 0.2
  done
  return 1
}

check "the agent registered A/ips (on_failure allow) in rampart-fwd on h1" wait_on_failure allow
"$CTL" host services --socket "$S1"

vm vm4 -- timeout 90 python3 -m http.server 80 --bind 198.18.2.14 >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do vm vm4 -- ss -ltn | grep -q ":80 " && break; sleep 0.1; done
vm vm1 -- ping -c1 -W1 198.18.1.1 >/dev/null 2>&1 || true

echo "== fail open"
check "curl vm1 -> vm4:80 passes: redirected, no partner, on_failure allow" vm vm1 -- curl -sf -m 5 -o /dev/null http://198.18.2.14/
allowed=$(counter ips failure_allowed)
check "h1 counted failure-allowed frames of A/ips, request and reply directions ($allowed)" test "$allowed" -ge 4
check "the connection is tracked with its redirect verdict" \
  bash -c "'$CTL' host conntrack list --socket '$S1' --instance 1 -o json | grep -q '\"action\": \"redirect\"'"

echo "== agent restart with services present: no FEI change"
applied_before=$(grep -c applied "$L/hosts/h1/agent.log" || true)
kill -- "-${AGENT_PID[h1]}"; wait "${AGENT_PID[h1]}" 2>/dev/null || true
start_agent h1
sleep 3
check "restarted agent made no FEI change (no new 'applied' line)" \
  test "$(grep -c applied "$L/hosts/h1/agent.log")" -eq "$applied_before"

echo "== fail closed"
records drop
check "the agent changed A/ips to on_failure drop" wait_on_failure drop
check "curl vm1 -> vm4:80 is dropped (on_failure drop)" bash -c "! '$LAB' exec vm1 -- curl -sf -m 3 -o /dev/null http://198.18.2.14/"
dropped=$(counter ips failure_dropped)
check "h1 counted failure-dropped frames of A/ips ($dropped)" test "$dropped" -ge 1

echo "== no Service row: unknown service"
records none
check "the agent deleted A/ips" wait_on_failure none
check "curl vm1 -> vm4:80 is dropped (unknown service)" bash -c "! '$LAB' exec vm1 -- curl -sf -m 3 -o /dev/null http://198.18.2.14/"
unknown=$("$CTL" host stats --socket "$S1" -o json | python3 -c "
import json, sys
print(sum(w['redirect_unknown_service'] for w in json.load(sys.stdin)['workers']))")
check "h1 counted redirect_unknown_service ($unknown)" test "$unknown" -ge 1
"$CTL" host services --socket "$S1"

if [ "$FAILS" -ne 0 ]; then
  for f in "$L"/hosts/*/agent.log "$L"/hosts/*/fwd.log; do echo "--- $f"; tail -20 "$f"; done
fi
echo "service_records_test: $FAILS failure(s)"
[ "$FAILS" -eq 0 ]
