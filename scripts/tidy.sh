#!/usr/bin/env bash
# Runs clang-tidy (the checks of .clang-tidy, every finding an error) over every non-test .cc
# file under src/, two files at a time. Needs build/compile_commands.json (scripts/test.sh
# configures with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON). Prints the findings of each failing file
# in one block and fails if there is any. Usage: scripts/tidy.sh [BUILD_DIR] [FILE.cc...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
jobs=${TIDY_JOBS:-2}

if [[ ! -f $build/compile_commands.json ]]; then
  echo "tidy: '$build/compile_commands.json' not found" >&2
  echo "HINT: configure with: cmake -S . -B $build -DCMAKE_EXPORT_COMPILE_COMMANDS=ON" >&2
  exit 1
fi
tidy=$(command -v clang-tidy || command -v clang-tidy-14 || true)
if [[ -z $tidy ]]; then
  echo "tidy: 'clang-tidy' not found" >&2
  echo "HINT: run scripts/install-deps.sh (Debian package clang-tidy)" >&2
  exit 1
fi

if (($#)); then
  files=("$@")
else
  mapfile -t files < <(find src -name '*.cc' ! -name '*_test.cc' | sort)
fi

# One clang-tidy a file; its output is held until it ends so two jobs never interleave.
# -Wno-unknown-warning-option: the compile flags carry GCC-only warnings (-Wno-restrict).
export TIDY_BIN=$tidy TIDY_BUILD=$build
run_one() {
  local out
  if ! out=$("$TIDY_BIN" -p "$TIDY_BUILD" --quiet --extra-arg=-Wno-unknown-warning-option "$1" 2>&1); then
    printf '== %s\n%s\n' "$1" "$out"
    return 1
  fi
}
export -f run_one
start=$SECONDS
if printf '%s\0' "${files[@]}" | xargs -0 -n1 -P"$jobs" bash -c 'run_one "$1"' _; then
  echo "tidy: ${#files[@]} files clean ($((SECONDS - start)) s)"
else
  echo "tidy: findings above (${#files[@]} files, $((SECONDS - start)) s)" >&2
  echo "HINT: fix them, or see .clang-tidy for the checks and why; NOLINT(check) only with a reason" >&2
  exit 1
fi
