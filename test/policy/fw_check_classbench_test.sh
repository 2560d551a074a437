#!/usr/bin/env bash
# rampartctl fw check must print exactly column 1 of <set>.expected for every ClassBench set,
# and fail cleanly (non-zero, message on stderr, nothing on stdout) on bad input.
# usage: fw_check_classbench_test.sh RAMPARTCTL CLASSBENCH_DIR [SET...]   (default: all six sets)
set -u
ctl=$1 dir=$2
shift 2
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(acl1_1k fw1_1k ipc1_1k acl1_10k fw1_10k ipc1_10k)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for set in "${sets[@]}"; do
  if ! "$ctl" fw check --rules "$dir/$set.rules" --format classbench --trace "$dir/$set.trace" >"$tmp/out" 2>"$tmp/err"; then
    echo "FAIL $set: exit status $?: $(cat "$tmp/err")"; fail=1; continue
  fi
  cut -f1 "$dir/$set.expected" >"$tmp/want"
  if cmp -s "$tmp/out" "$tmp/want"; then
    echo "ok   $set ($(wc -l <"$tmp/want") headers)"
  else
    echo "FAIL $set: output differs from column 1 of $set.expected:"; diff "$tmp/out" "$tmp/want" | head -5; fail=1
  fi
done

# The same rules through the native format (import -> YAML) give the same answers: the .rules
# extension selects classbench by default, the YAML file is native.
"$ctl" fw check --rules "$dir/acl1_1k.rules" --trace "$dir/acl1_1k.trace" >"$tmp/default_fmt" 2>"$tmp/err" || { echo "FAIL default format: $(cat "$tmp/err")"; fail=1; }
cut -f1 "$dir/acl1_1k.expected" | cmp -s - "$tmp/default_fmt" || { echo "FAIL default format output"; fail=1; }

# A native policy: the first rule (position 0) allows 198.18.0.0/15 to port 80; position 1 is a
# later rule; -1 is the default.
cat >"$tmp/p.yaml" <<'YAML'
rules:
  - id: 77
    priority: 5
    direction: to-vm
    source: [198.18.0.0/15]
    protocol: tcp
    destination_ports: [80]
    action: allow
  - id: 3
    priority: 1
    protocol: udp
    action: drop
YAML
printf '3323068417\t3323068418\t1000\t80\t6\t0\t0\n3323068417\t3323068418\t1000\t80\t17\t0\t0\n2130706433\t3323068418\t1000\t80\t6\t0\t0\n' >"$tmp/t.trace"
printf '0\n1\n-1\n' >"$tmp/t.want"
"$ctl" fw check --rules "$tmp/p.yaml" --trace "$tmp/t.trace" >"$tmp/out" 2>"$tmp/err" || { echo "FAIL native: $(cat "$tmp/err")"; fail=1; }
cmp -s "$tmp/out" "$tmp/t.want" || { echo "FAIL native output:"; cat "$tmp/out"; fail=1; }

# Errors: non-zero exit, a message naming the file on stderr, nothing on stdout.
printf 'rules:\n  - action: allow\n    destinaton: [198.18.0.0/15]\n' >"$tmp/bad.yaml"
check_error() {  # name, expected text in stderr, command...
  local name=$1 want=$2; shift 2
  if "$@" >"$tmp/out" 2>"$tmp/err"; then echo "FAIL $name: exit status 0"; fail=1; return; fi
  [ -s "$tmp/out" ] && { echo "FAIL $name: wrote to stdout"; fail=1; }
  grep -qF -- "$want" "$tmp/err" || { echo "FAIL $name: stderr lacks '$want': $(cat "$tmp/err")"; fail=1; }
  echo "ok   $name"
}
check_error bad-policy "bad.yaml:3:5: rules[0].destinaton: unknown field" "$ctl" fw check --rules "$tmp/bad.yaml" --trace "$tmp/t.trace"
check_error missing-trace "nonexistent.trace" "$ctl" fw check --rules "$tmp/p.yaml" --trace "$tmp/nonexistent.trace"
check_error missing-rules "--trace are required" "$ctl" fw check --trace "$tmp/t.trace"
check_error bad-format "--format must be" "$ctl" fw check --rules "$tmp/p.yaml" --trace "$tmp/t.trace" --format xml
printf '1\t2\tx\n' >"$tmp/bad.trace"
check_error bad-trace "bad.trace" "$ctl" fw check --rules "$tmp/p.yaml" --trace "$tmp/bad.trace"
exit $fail
