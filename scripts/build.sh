#!/usr/bin/env bash
# Configures and builds nicvm and its tests in build/ (or $NICVM_BUILD).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${NICVM_BUILD:-$top/build}
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE="${NICVM_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build" -j"$(nproc)"
