#!/usr/bin/env bash
# Installs what is missing, builds pgvault (warnings are errors) and runs every test:
# unit tests and the integration tests against real PostgreSQL 15 clusters and a real
# Ceph RADOS Gateway (started by the tests themselves). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The layering rules of docs/design.md: an include that breaks them fails the run.
bash scripts/check-includes.sh
# No file in src/ over 600 lines.
bash scripts/check-size.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
ninja -C build
# libFuzzer targets of every parser of untrusted input, 20 s each (build-fuzz/, clang): a crash
# fails the run and names its reproducer. About 5 minutes on two cores, build included.
bash scripts/fuzz.sh 20
# clang-tidy with the checks of .clang-tidy over every non-test .cc of src/: a finding fails the run.
bash scripts/tidy.sh build
# Integration tests run as root and start PostgreSQL as the OS user postgres, who needs to
# reach the binary under test.
chmod o+rx build
ctest --test-dir build --output-on-failure --timeout 900 "$@"
# Sanitizers (scripts/sanitize.sh): an ASan+UBSan build running the unit tests and the
# integration suites it names, a TSan build running the unit tests; a report fails the run.
# Which suites run under which sanitizer, and its time: docs/design.md, "Sanitizers".
bash scripts/sanitize.sh
