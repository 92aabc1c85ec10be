#!/usr/bin/env bash
# Builds pgvault under sanitizers (gcc) and runs tests there; any finding fails the run.
#   build-asan/  ASan + UBSan (-O1 -g): the whole unit test binary, then the integration suites
#                of ASAN_SUITES, which exec build-asan/pgvault (PGVAULT_BINARY is the binary of
#                the test binary's own build directory), also as PostgreSQL's archive_command.
#   build-tsan/  TSan (-O1 -g): only the unit test binary, all of it by default (312 tests in 31 s
#                here; the threaded ones alone, TSAN_FILTER=$TSAN_THREADED, 70 tests in 16 s).
# Suites, chosen to fit about 30 minutes of CI (2 cores, no ccache) with both builds, and to
# reach every command that handles repository data once:
#   BackupRestoreTest          backup (full, incremental, under pgbench), restore, archive-push
#   PitrTest                   archive-get through restore_command, the five PITR target kinds
#   BadInputTest               archive-push/get refusals, verify of a damaged pack, bad restores
#   DamageTest                 verify and expire of damaged manifests, restore path checks
#   Posix/GcTest, Posix/RetentionTest   expire and gc
#   ReplicaTest                repo-sync and reads that fall back to a second repository
#   ArchiveAsyncTest           the async archive pusher (threads, kill -9)
#   ConcurrencyTest            two backups, backup + expire + gc, two pushes of one segment
#   RepackTest                 gc --repack and reads through redirects
#   DeltaRestoreTest           restore --delta, killed and resumed
#   TimelineTest               timelines, history files and their damage
# Left out: the S3 suites (a Ceph gateway each: minutes), the crash-point and corruption
# matrices (hundreds of runs of the binary, several times slower under ASan) and the daemon,
# WAL streaming and drill suites (long-running servers; their code paths are the commands above).
# Each phase prints the seconds it took. Sanitizer reports go to files under $SANITIZE_LOGS
# (world-writable: PostgreSQL runs archive-push as user postgres); one file there fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${SANITIZE_BUILD_JOBS:-2}"
logs="${SANITIZE_LOGS:-/tmp/pgvault-sanitizer}"
ASAN_SUITES="${ASAN_SUITES:-BackupRestoreTest|PitrTest|BadInputTest|DamageTest|Posix/GcTest|Posix/RetentionTest|ReplicaTest|ArchiveAsyncTest|ConcurrencyTest|RepackTest|DeltaRestoreTest|TimelineTest}"
TSAN_THREADED="BoundedQueueTest.*:WorkerGroupTest.*:RunWorkersTest.*:ParallelForTest.*:OrderedSinkTest.*:FileJobsTest.*:BackupPhasesTest.*:FileRestorerTest.*:FileRestorerIdCheckTest.*:CodecTest.*:ReplicatedStorageTest.*:ReplicatedReadTest.*:RepoSyncTest.*:BackupLockTest.*:DaemonTest.*:AlertsTest.*:MetricsTest.*"
TSAN_FILTER="${TSAN_FILTER:-*}"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
supp="$logs/suppressions"

phase_start=0
phase() {  # phase NAME: ends the phase before (printing its seconds) and starts NAME
  local now
  now="$(date +%s)"
  if [[ -n "${phase_name:-}" ]]; then
    echo "sanitize: $phase_name took $((now - phase_start)) s" >&2
  fi
  phase_name="${1:-}"
  phase_start="$now"
  [[ -n "$phase_name" ]] && echo "sanitize: $phase_name" >&2
  return 0
}

# Fails the run if any sanitizer wrote a report (also from a process whose exit status no test
# looked at, such as archive-push run by PostgreSQL).
check_logs() {
  local found=0 report
  for report in "$logs"/report.*; do
    [[ -e "$report" ]] || continue
    found=1
    echo "sanitize: report $report:" >&2
    head -n 80 "$report" >&2
  done
  if ((found)); then
    echo "sanitize: $1 found the problems above" >&2
    echo "HINT: reproduce with the binary of build-asan/ or build-tsan/ and the test named above" >&2
    exit 1
  fi
}

rm -rf "$logs"
mkdir -p "$supp"
chmod 1777 "$logs"
cp scripts/sanitizer-suppressions/*.supp "$supp/"
chmod -R a+rX "$supp"
# halt_on_error: the first finding ends the process; exitcode 86 tells it from pgvault's own
# exit codes. The reports go to $logs/report.<pid>.
common="halt_on_error=1:exitcode=86:log_path=$logs/report:print_suppressions=0"
export ASAN_OPTIONS="$common:detect_leaks=1"
export UBSAN_OPTIONS="$common:print_stacktrace=1"
export LSAN_OPTIONS="$common:suppressions=$supp/lsan.supp"
export TSAN_OPTIONS="$common:second_deadlock_stack=1:suppressions=$supp/tsan.supp"

phase "ASan+UBSan build (build-asan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DPGVAULT_SANITIZE=address,undefined \
  "${launcher[@]}" >/dev/null
ninja -C build-asan -j "$jobs" pgvault pgvault_unit_tests pgvault_integration_tests
# PostgreSQL runs as user postgres and must reach the binary.
chmod o+rx build-asan
# LeakSanitizer stops the process to scan it, which some sandboxes (no ptrace) refuse with a
# fatal error in every process: then the run goes on without leak checks and says so loudly.
if ! ASAN_OPTIONS="detect_leaks=1:log_path=" build-asan/pgvault version >/dev/null 2>"$logs/lsan-probe"; then
  if grep -q "LeakSanitizer has encountered a fatal error" "$logs/lsan-probe"; then
    echo "sanitize: WARNING: LeakSanitizer cannot run here; leak checks are off for this run" >&2
    export ASAN_OPTIONS="$common:detect_leaks=0"
  else
    cat "$logs/lsan-probe" >&2
    echo "sanitize: build-asan/pgvault version failed" >&2
    exit 1
  fi
fi
rm -f "$logs/lsan-probe"

phase "ASan+UBSan unit tests"
build-asan/pgvault_unit_tests --gtest_brief=1 || { check_logs "ASan+UBSan (unit tests)"; exit 1; }
check_logs "ASan+UBSan (unit tests)"

phase "ASan+UBSan integration suites"
ctest --test-dir build-asan --output-on-failure --timeout 1800 -R "^($ASAN_SUITES)\$" ||
  { check_logs "ASan+UBSan (integration suites)"; exit 1; }
check_logs "ASan+UBSan (integration suites)"

phase "TSan build (build-tsan)"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DPGVAULT_SANITIZE=thread "${launcher[@]}" >/dev/null
ninja -C build-tsan -j "$jobs" pgvault_unit_tests

phase "TSan unit tests"
build-tsan/pgvault_unit_tests --gtest_brief=1 --gtest_filter="$TSAN_FILTER" ||
  { check_logs "TSan (unit tests)"; exit 1; }
check_logs "TSan (unit tests)"
phase
