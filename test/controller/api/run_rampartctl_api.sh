#!/bin/sh
# rampartctl certs/apply/get/describe/delete/status end to end against api_test_server (ApiServer on a
# mem: store, TLS and tokens from `rampartctl certs init`).
# usage: run_rampartctl_api.sh RAMPARTCTL API_TEST_SERVER SOURCE_DIR
set -u
ctl="$1"; srv="$2"; src="$3"
tmp="$(mktemp -d)"; status=0
fifo="$tmp/stdin"; mkfifo "$fifo"
cleanup() { exec 3>&- 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; status=1; }
expect() {  # expect RC PATTERN -- command...: exit code and a substring of stdout+stderr
  want_rc="$1"; pat="$2"; shift 3
  out="$("$@" 2>&1)"; rc=$?
  [ "$rc" = "$want_rc" ] || fail "rc $rc (want $want_rc): $*: $out"
  case "$out" in *"$pat"*) echo "ok: $*" ;; *) fail "output of '$*' lacks '$pat': $out" ;; esac
}

expect 0 "created $tmp/tls/hosts/h1.pem" -- "$ctl" certs init --dir "$tmp/tls" --hosts h1,h2
expect 0 "nothing to do" -- "$ctl" certs init --dir "$tmp/tls" --hosts h1
expect 0 "created $tmp/tls/hosts/h3.key" -- "$ctl" certs init --dir "$tmp/tls" --hosts h3
expect 2 "--dir is required" -- "$ctl" certs init

"$srv" "$tmp/tls" < "$fifo" & exec 3> "$fifo"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -f "$tmp/tls/port" ] && break; sleep 0.5; done
[ -f "$tmp/tls/port" ] || { echo "server did not start"; exit 1; }
RAMPART_SERVER="https://127.0.0.1:$(cat "$tmp/tls/port")"; RAMPART_CA="$tmp/tls/ca.pem"
RAMPART_TOKEN="$(sed -n 's/.*token: \([0-9a-f]*\).*/\1/p' "$tmp/tls/tokens.yaml")"
export RAMPART_SERVER RAMPART_CA RAMPART_TOKEN

expect 0 "would be created" -- "$ctl" apply -f "$src/examples/specs/seed-inline.yaml" --dry-run
expect 1 "does not exist" -- "$ctl" get port vm1 --tenant A
expect 0 "Port A/vm1 created" -- "$ctl" apply -f "$src/examples/specs/seed-inline.yaml"
expect 0 "Port A/vm1 unchanged" -- "$ctl" apply -f "$src/examples/specs/seed-inline.yaml"
expect 0 "vm4" -- "$ctl" get ports --tenant A
expect 0 '"cidr": "198.18.1.0/24"' -- "$ctl" get LogicalSwitch ls1 --tenant A -o json
expect 0 "Port A/vm1 (switch)" -- "$ctl" describe ls ls1 --tenant A
expect 1 "referred to by" -- "$ctl" delete LogicalSwitch ls1 --tenant A
# ServiceVM: listed, read, and described with the redirect rule that uses it.
expect 0 "ServiceVM      A               ngfw" -- "$ctl" get servicevms
expect 0 '"migration": "svm-review"' -- "$ctl" get ServiceVM ngfw --tenant A -o json
expect 0 "Firewall A/fw-inline (rules[1].redirect_to)" -- "$ctl" describe svm ngfw --tenant A
expect 0 "referrers: none" -- "$ctl" describe ServiceVM ids --tenant B
expect 1 "referred to by" -- "$ctl" delete svm ngfw --tenant A
expect 0 "ServiceVM B/ids deleted" -- "$ctl" delete ServiceVM ids --tenant B
expect 2 "unknown kind 'bogus'" -- "$ctl" get bogus
expect 2 "needs --tenant" -- "$ctl" get port vm1
# A bad file: document, field and reason; the files' names appear in errors.
printf 'kind: Tenant\nname: C\n---\nkind: LogicalSwitch\ntenant: C\nname: s\ncidr: 198.18.1.1/24\n' > "$tmp/bad.yaml"
expect 1 "bad.yaml:7: document 2 (LogicalSwitch s): cidr: prefix '198.18.1.1/24' has host bits set" -- "$ctl" apply -f "$tmp/bad.yaml"
expect 1 "does not exist" -- "$ctl" get tenant C
# Edit what `get -o yaml` printed and apply it back; applying the old text again is stale.
"$ctl" get LogicalSwitch ls2 --tenant A -o yaml > "$tmp/ls2.yaml" || fail "get -o yaml"
sed 's/^kind:/# edited\nkind:/' "$tmp/ls2.yaml" > "$tmp/ls2-edit.yaml"
expect 0 "LogicalSwitch A/ls2 unchanged" -- "$ctl" apply -f "$tmp/ls2-edit.yaml"
printf 'kind: AddressGroup\ntenant: A\nname: g2\nprefixes: [198.18.9.0/24]\n' > "$tmp/g2.yaml"
expect 0 "AddressGroup A/g2 created" -- "$ctl" apply -f "$tmp/g2.yaml" -f "$tmp/ls2-edit.yaml"
"$ctl" get AddressGroup g2 --tenant A -o yaml > "$tmp/g2-read.yaml" || fail "get g2"
sed 's/198.18.9.0/198.18.10.0/' "$tmp/g2-read.yaml" > "$tmp/g2-a.yaml"
sed 's/198.18.9.0/198.18.11.0/' "$tmp/g2-read.yaml" > "$tmp/g2-b.yaml"
expect 0 "AddressGroup A/g2 updated" -- "$ctl" apply -f "$tmp/g2-a.yaml"
expect 1 "stale" -- "$ctl" apply -f "$tmp/g2-b.yaml"
expect 0 "AddressGroup A/g2 deleted" -- "$ctl" delete AddressGroup g2 --tenant A
# Status (api_test_server serves a fixed controller status: h2 has a change in flight -> exit 3).
expect 3 "h2    ctl-a  1                   6           4        41  changes in flight" -- "$ctl" status
expect 3 "served by ctl-b" -- "$ctl" status
expect 3 '"acked": 4' -- "$ctl" status -o json
# Tokens and TLS.
expect 1 "unknown token" -- "$ctl" get ports --token not-a-valid-token-xx
expect 1 "cannot reach" -- "$ctl" get ports --ca "$src/docs/api.md"
exit $status
