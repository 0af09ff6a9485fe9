#!/usr/bin/env bash
# Installs the Debian packages gpuhours needs (only those missing), then configures and builds it.
#   ./setup.sh               release build in build/ (the CLI is build/gpuhours)
#   ./setup.sh --sanitize    AddressSanitizer + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")"

packages=(cmake ninja-build g++ libyaml-cpp-dev libcli11-dev libeigen3-dev libboost-graph-dev
          doctest-dev libfmt-dev nlohmann-json3-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build=build
flags=(-DCMAKE_BUILD_TYPE=Release)
targets=()
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUHOURS_SANITIZE=ON)
  # What the sanitizer tests run: the CLI and the unit tests (no benchmarks, no CUDA helper).
  targets=(--target gpuhours gpuhours_tests)
fi
cmake -S . -B "$build" -G Ninja "${flags[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
