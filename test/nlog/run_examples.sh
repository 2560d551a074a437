#!/bin/sh
# Golden-file test of `rampartctl nlog run`: every examples/nlog/NAME.nlog with NAME.jsonl must
# print exactly NAME.expected. usage: run_examples.sh RAMPARTCTL SOURCE_DIR
set -u
ctl="$1"; src="$2"
status=0
found=0
for prog in "$src"/examples/nlog/*.nlog; do
  base="${prog%.nlog}"
  [ -f "$base.jsonl" ] || continue
  found=$((found + 1))
  # Paths relative to the source dir, as in the expected files' error messages.
  out="$(cd "$src" && "$ctl" nlog run "examples/nlog/$(basename "$prog")" \
         --input "examples/nlog/$(basename "$base").jsonl" 2>/dev/null)"
  if [ "$out" != "$(cat "$base.expected")" ]; then
    echo "MISMATCH: $base"
    printf '%s\n' "$out" | diff "$base.expected" - || true
    status=1
  else
    echo "ok: $base"
  fi
done
[ "$found" -gt 0 ] || { echo "no examples found"; exit 1; }
# A compile error names file:line:column and fails.
tmp="$(mktemp -d)"
printf 'input table A(x: int).\noutput table B(x: int).\nB(y) :- A(x).\n' > "$tmp/bad.nlog"
: > "$tmp/empty.jsonl"
err="$("$ctl" nlog run "$tmp/bad.nlog" --input "$tmp/empty.jsonl" 2>&1)" && { echo "bad program accepted"; status=1; }
case "$err" in
  *"bad.nlog:3:3: unbound variable 'y'"*) echo "ok: compile error" ;;
  *) echo "unexpected compile error output: $err"; status=1 ;;
esac
rm -rf "$tmp"
exit $status
