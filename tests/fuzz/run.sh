#!/usr/bin/env bash
# Builds the libFuzzer target with clang (ASan + UBSan) and runs it for a fixed number of inputs
# (at most SECONDS) on a corpus seeded with every preset scenario (serving ones too), the small seeds of
# tests/fuzz/seeds/ (which it simulates whole) and the regression inputs of tests/fuzz/crashes/.
#   tests/fuzz/run.sh [RUNS [SECONDS]]    (default 20000 inputs, 120 s; CI runs this)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20000}
seconds=${2:-120}
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DGPUHOURS_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_scenario
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp scenarios/*.yaml tests/fuzz/seeds/*.yaml "$corpus/"
for f in scenarios/serve/*.yaml; do cp "$f" "$corpus/serve-$(basename "$f")"; done
[ -d tests/fuzz/crashes ] && cp tests/fuzz/crashes/* "$corpus/" 2>/dev/null || true
# -timeout: an input that runs longer is a finding (a hang); -rss_limit_mb: so is one that grows
# without bound. Findings are written to build-fuzz/ as crash-*, timeout-* or oom-* files.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  build-fuzz/fuzz_scenario -runs="$runs" -max_total_time="$seconds" -seed=1 -timeout=30 -rss_limit_mb=4096 -max_len=16384 \
  -artifact_prefix=build-fuzz/ -print_final_stats=1 "$corpus"
