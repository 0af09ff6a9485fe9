#!/usr/bin/env bash
# Golden outputs: the --json output of every preset (`run`, and `check` where it has a claim or
# is a counterfactual; `serve` for the serving presets), of `validate` and of one layout search, compared byte for byte with the
# files beside this script.
# A restructuring moves none of them; a change that moves a figure regenerates them in its own
# commit, whose message says which figures moved, by how much, and why.
#   tests/golden/golden.sh GPUHOURS            compare (exit 1 on any difference, with a diff)
#   tests/golden/golden.sh GPUHOURS --update   regenerate
#   python3 tests/golden/moved.py GPUHOURS     list the figures that moved, for the commit message
set -uo pipefail
gpuhours=$(realpath "$1")
mode=${2:-compare}
here=$(cd "$(dirname "$0")" && pwd)
dest=${GOLDEN_DIR:-$here}  # --update writes here (tests/golden/moved.py writes elsewhere to compare)
cd "$here/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

outputs=()
jobs_max=$(nproc)
produce() {  # NAME ARGS...: run gpuhours ARGS --json into $tmp/NAME.json, up to `nproc` at a time
  local name=$1; shift
  outputs+=("$name")
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
  ( "$gpuhours" "$@" --json > "$tmp/$name.json" 2> "$tmp/$name.err"; echo $? > "$tmp/$name.rc"
    echo "$*" > "$tmp/$name.args" ) &
}

for s in scenarios/*.yaml; do
  n=$(basename "$s" .yaml)
  produce "run-$n" run "$n"
  if grep -qE '^(claim|counterfactual_of):' "$s"; then produce "check-$n" check "$n"; fi
done
for s in scenarios/serve/*.yaml; do
  n=$(basename "$s" .yaml)
  produce "serve-$n" serve "$n"
done
produce validate validate
produce sweep-llama-3-405b sweep llama-3-405b --top 5 --threads 1 --vary gpus=8192,16384 \
  --vary tp=4,8 --vary pp=8,16 --vary zero=1,3 --vary schedule=1f1b,interleaved-1f1b --vary micro_batch=1,2
wait

fail=0
for n in "${outputs[@]}"; do
  rc=$(cat "$tmp/$n.rc")
  # validate exits 1 when a limit is exceeded: that is its verdict, the JSON is still the golden.
  if [ "$rc" -ne 0 ] && [ "$n" != validate ]; then
    echo "FAIL: gpuhours $(cat "$tmp/$n.args") --json exited $rc"; cat "$tmp/$n.err"; fail=1
  fi
done

if [ "$mode" = --update ]; then
  rm -f "$dest"/*.json
  for n in "${outputs[@]}"; do cp "$tmp/$n.json" "$dest/$n.json"; done
  echo "golden: wrote ${#outputs[@]} files"
  exit $fail
fi
for n in "${outputs[@]}"; do
  if [ ! -f "$here/$n.json" ]; then echo "FAIL: no golden file tests/golden/$n.json"; fail=1; continue; fi
  if ! cmp -s "$here/$n.json" "$tmp/$n.json"; then
    echo "FAIL: $n differs from tests/golden/$n.json"
    diff "$here/$n.json" "$tmp/$n.json" | head -40
    fail=1
  fi
done
stale=$(comm -23 <(cd "$here" && ls *.json | sed 's/\.json$//' | sort) <(printf '%s\n' "${outputs[@]}" | sort))
if [ -n "$stale" ]; then echo "FAIL: golden files nothing produces: $stale"; fail=1; fi
[ $fail -eq 0 ] && echo "golden: ${#outputs[@]} outputs byte-identical"
exit $fail
