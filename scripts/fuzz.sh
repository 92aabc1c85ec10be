#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan, build-fuzz/) and runs each for
# SECONDS (default 20) from its seed corpus in fuzz/corpus/<name>/. A crash, leak, sanitizer
# report or out-of-memory fails the run and names the reproducer; replay one with
#   build-fuzz/fuzz/<name>_fuzz <reproducer>
# Found inputs go to a scratch corpus under build-fuzz/, never into the checked-in seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
jobs="${FUZZ_BUILD_JOBS:-2}"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DPGVAULT_FUZZ=ON "${launcher[@]}" >/dev/null
ninja -C build-fuzz -j "$jobs" fuzz_all
failed=0
for source in fuzz/*_fuzz.cc; do
  name="$(basename "$source" .cc)"
  target="${name%_fuzz}"
  work="build-fuzz/run/$target"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  seeds="fuzz/corpus/$target"
  [[ -d "$seeds" ]] || seeds=""
  echo "fuzz: $target for ${seconds}s" >&2
  if ! "build-fuzz/fuzz/$name" -max_total_time="$seconds" -rss_limit_mb=1024 -max_len=65536 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
      "$work/corpus" $seeds >"$work/log" 2>&1; then
    failed=1
    tail -n 60 "$work/log" >&2
    for artifact in "$work"/artifacts/*; do
      [[ -e "$artifact" ]] && echo "fuzz: $target failed; reproducer: $artifact" >&2
    done
    continue
  fi
  grep -E '^stat::number_of_executed_units' "$work/log" | sed "s/^/fuzz: $target /" >&2 || true
done
if ((failed)); then
  echo "fuzz: a target crashed" >&2
  echo "HINT: replay with build-fuzz/fuzz/<name>_fuzz <reproducer>, add it as a unit test, fix" >&2
  exit 1
fi
