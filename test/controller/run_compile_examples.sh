#!/bin/sh
# Golden-file test of `rampartctl compile`: every examples/specs/NAME.yaml prints exactly
# NAME.expected (text) and NAME.expected.json (-o json). usage: run_compile_examples.sh RAMPARTCTL SOURCE_DIR
# Regenerate after an intended change: rampartctl compile --spec examples/specs/NAME.yaml > NAME.expected
set -u
ctl="$1"; src="$2"
status=0; found=0
for spec in "$src"/examples/specs/*.yaml; do
  base="${spec%.yaml}"
  [ -f "$base.expected" ] || continue
  found=$((found + 1))
  rel="examples/specs/$(basename "$spec")"
  out="$(cd "$src" && "$ctl" compile --spec "$rel" 2>&1)"
  if [ "$out" != "$(cat "$base.expected")" ]; then
    echo "MISMATCH (text): $base"; printf '%s\n' "$out" | diff "$base.expected" - | head -40; status=1
  else echo "ok: $base (text)"; fi
  if [ -f "$base.expected.json" ]; then
    out="$(cd "$src" && "$ctl" compile --spec "$rel" -o json 2>&1)"
    if [ "$out" != "$(cat "$base.expected.json")" ]; then
      echo "MISMATCH (json): $base"; printf '%s\n' "$out" | diff "$base.expected.json" - | head -40; status=1
    else echo "ok: $base (json)"; fi
  fi
done
[ "$found" -gt 0 ] || { echo "no examples found"; exit 1; }
# A bad spec fails with the document, field and reason; --host limits the output to one host.
tmp="$(mktemp -d)"
printf 'kind: Tenant\nname: A\n---\nkind: LogicalSwitch\ntenant: A\nname: ls1\ncidr: 198.18.1.0/24\ncolour: red\n' > "$tmp/bad.yaml"
err="$("$ctl" compile --spec "$tmp/bad.yaml" 2>&1)" && { echo "bad spec accepted"; status=1; }
case "$err" in
  *"bad.yaml:8: document 2 (LogicalSwitch ls1): colour: unknown field 'colour'"*) echo "ok: spec error" ;;
  *) echo "unexpected error output: $err"; status=1 ;;
esac
one="$(cd "$src" && "$ctl" compile --spec examples/specs/seed-attached.yaml --host h2 | grep -c '^host ')"
[ "$one" = "1" ] || { echo "--host h2 printed $one hosts"; status=1; }
rm -rf "$tmp"
exit $status
