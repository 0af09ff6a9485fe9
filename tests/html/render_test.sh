#!/usr/bin/env bash
# Renders the HTML report of every preset in headless Chromium (`check --html` where the preset
# has a claim or is a counterfactual, at the fewest Monte Carlo samples check accepts, since the
# page and not the range is under test; `run --html` otherwise) and checks, from the rendered DOM:
#   - no console errors;
#   - every chart has axis ticks, and every text's bounding box lies inside its SVG (the page
#     measures them with getBBox and writes the counts on <body>);
#   - the headline's GPU-hours equal the run's in the same invocation's --json, to 3 significant figures;
#   - a title with markup is escaped, not executed.
# Keeps the pages and a screenshot of the DeepSeek-V3 check as test artefacts.
#   tests/html/render_test.sh BUILD_DIR CHROMIUM
set -uo pipefail
build=$1
chromium=$2
out="$(cd "$build" && pwd)/test-artifacts"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0)
fail=0

# render NAME PAGE [MIN_CHARTS]: dumps the DOM to $tmp/NAME.dom, console to $tmp/NAME.log; checks layout.
render() {
  local name=$1 page=$2 min=${3:-3}
  "$chromium" "${flags[@]}" --dump-dom "file://$page" > "$tmp/$name.dom" 2> "$tmp/$name.log" || true
  local body
  body=$(grep -o '<body[^>]*>' "$tmp/$name.dom")
  local charts outside bare
  charts=$(sed -n 's/.*data-charts="\([0-9]*\)".*/\1/p' <<< "$body")
  outside=$(sed -n 's/.*data-labels-outside="\([0-9]*\)".*/\1/p' <<< "$body")
  bare=$(sed -n 's/.*data-charts-without-ticks="\([0-9]*\)".*/\1/p' <<< "$body")
  if [ -z "$charts" ] || [ "$charts" -lt "$min" ]; then echo "FAIL $name: expected $min charts or more, found '${charts}'"; fail=1; fi
  [ "$outside" = 0 ] || { echo "FAIL $name: $outside labels outside their chart"; fail=1; }
  [ "$bare" = 0 ] || { echo "FAIL $name: $bare charts without ticks"; fail=1; }
  if grep -E 'CONSOLE.*(Error|Uncaught)|Uncaught ' "$tmp/$name.log"; then echo "FAIL $name: console errors"; fail=1; fi
}

# The headline's GPU-hours (<b id="h-hours">) against the JSON, both to 3 significant figures.
headline_matches() {
  local name=$1 json=$2
  python3 - "$tmp/$name.dom" "$json" <<'PY'
import json, re, sys
dom = open(sys.argv[1]).read()
shown = re.search(r'<b id="h-hours">([^<]*)</b>', dom).group(1)
hours = json.load(open(sys.argv[2]))["run"]["gpu_hours"]
def sig3(v):  # three_figures (units.cpp), written again from its specification
    import math
    x, unit = v, ""
    for u, scale in (("B", 999.5e6), ("M", 999.5e3), ("k", 999.5)):
        if abs(v) >= scale:
            x, unit = v / {"B": 1e9, "M": 1e6, "k": 1e3}[u], u
            break
    decimals = max(0, 2 - math.floor(math.log10(abs(x)))) if x else 0
    return "%.*f%s" % (decimals, x, unit)
if shown != sig3(hours):
    sys.exit(f"headline shows {shown}, the JSON says {hours} ({sig3(hours)})")
PY
}

pages=0
for s in scenarios/*.yaml; do
  n=$(basename "$s" .yaml)
  # One simulation writes the page and the JSON whose run the headline must show.
  if grep -qE '^(claim|counterfactual_of):' "$s"; then
    "$build/gpuhours" check "$n" --samples 100 --html "$out/$n.html" --json > "$tmp/$n.json" || { echo "FAIL: check $n --html"; fail=1; continue; }
  else
    "$build/gpuhours" run "$n" --html "$out/$n.html" --json > "$tmp/$n.json" || { echo "FAIL: run $n --html"; fail=1; continue; }
  fi
  render "$n" "$out/$n.html"
  headline_matches "$n" "$tmp/$n.json" || { echo "FAIL $n: headline"; fail=1; }
  pages=$((pages + 1))
done

# compare and sweep pages.
"$build/gpuhours" compare deepseek-v3-claim deepseek-v3-on-h100 deepseek-v3-bf16 --baseline deepseek-v3-claim \
  --html "$out/compare.html" > /dev/null || { echo "FAIL: compare --html"; fail=1; }
render compare "$out/compare.html" 1
grep -q 'deepseek-v3-bf16' "$tmp/compare.dom" || { echo "FAIL: compare page lacks a row"; fail=1; }
"$build/gpuhours" sweep llama-3-8b-8gpu-dp --vary tp=1,2 --vary micro_batch=1,2 --threads 1 --html "$out/sweep.html" > /dev/null \
  || { echo "FAIL: sweep --html"; fail=1; }
render sweep "$out/sweep.html" 1
grep -q 'the main pre-training phase at its final batch' "$tmp/sweep.dom" || { echo "FAIL: sweep page does not say what it covers"; fail=1; }
pages=$((pages + 2))

# Escaping: a title carrying markup shows as text.
sed 's/^title: .*/title: "<script>document.title=\\"owned\\"<\/script> \& <b>bold<\/b>"/' scenarios/llama-3-8b-8gpu-dp.yaml > "$tmp/markup.yaml"
"$build/gpuhours" run "$tmp/markup.yaml" --html "$tmp/markup.html" > /dev/null
render markup "$tmp/markup.html"
grep -q '&lt;script&gt;' "$tmp/markup.dom" || { echo "FAIL: the title's markup is not escaped"; fail=1; }
grep -q '<title>owned</title>' "$tmp/markup.dom" && { echo "FAIL: the title's script ran"; fail=1; }

"$chromium" "${flags[@]}" --window-size=1000,2600 --screenshot="$out/deepseek-v3-claim.png" \
  "file://$out/deepseek-v3-claim.html" > /dev/null 2>&1 || true
[ -s "$out/deepseek-v3-claim.png" ] || { echo "FAIL: no screenshot"; fail=1; }
[ $fail -eq 0 ] && echo "$pages HTML reports rendered (every preset, compare, sweep): ticks on every chart, every label inside its chart, headlines equal to the JSON, markup escaped; screenshot $out/deepseek-v3-claim.png"
exit $fail
