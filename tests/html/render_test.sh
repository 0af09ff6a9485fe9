#!/usr/bin/env bash
# Renders the HTML report of the DeepSeek-V3 claim check in headless Chromium: the page must
# render without console errors and hold its four charts. Saves a screenshot as a test artefact.
#   tests/html/render_test.sh BUILD_DIR CHROMIUM
set -euo pipefail
build=$1
chromium=$2
out="$build/test-artifacts"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/gpuhours" check deepseek-v3-claim --samples 2000 --html "$out/deepseek-v3-claim.html" > /dev/null
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0)
"$chromium" "${flags[@]}" --dump-dom "file://$out/deepseek-v3-claim.html" > "$tmp/dom.html" 2> "$tmp/console.log" || true
"$chromium" "${flags[@]}" --window-size=1000,1800 --screenshot="$out/deepseek-v3-claim.png" \
  "file://$out/deepseek-v3-claim.html" > /dev/null 2>&1 || true
fail=0
grep -q 'data-rendered="ok"' "$tmp/dom.html" || { echo "FAIL: the page's check script did not mark it rendered"; fail=1; }
charts=$(grep -o '<svg id="[a-z-]*" class="chart"' "$tmp/dom.html" | wc -l)
[ "$charts" -eq 4 ] || { echo "FAIL: expected 4 charts, found $charts"; fail=1; }
if grep -E 'CONSOLE.*(Error|Uncaught)|Uncaught ' "$tmp/console.log"; then echo "FAIL: console errors"; fail=1; fi
[ -s "$out/deepseek-v3-claim.png" ] || { echo "FAIL: no screenshot"; fail=1; }
[ $fail -eq 0 ] && echo "HTML report rendered: $charts charts, no console errors; screenshot $out/deepseek-v3-claim.png"
exit $fail
