// Crash points: the places where a kill -9 must leave everything valid, numbered as a process
// passes them, so that a test can kill pgvault at every one of them in turn, not at a sample
// (test/integration/crash_point_test.cc).
//
// With PGVAULT_TEST_CRASH_AT=N in its environment, the process SIGKILLs itself when it passes
// its Nth crash point, after writing "crash point N: WHAT" to stderr. Crash points are every
// completed repository write (storage/crash_point_storage.h: Put, Delete, a batch delete, a
// retention or legal-hold change) and the ordering steps of restore's target directory. Unset,
// as always outside tests, a crash point costs one load.
//
// With PGVAULT_TEST_CRASH_MID=1 only the mid-write points count instead: a local repository
// write with half of the object in its temp file (storage/posix), as a kill during a write
// leaves it. With PGVAULT_TEST_CRASH_ONCE=FILE the kill happens only if FILE can be created
// (it did not exist): processes the killed one's caller starts again (the async pusher) run on.
#pragma once

#include <string_view>

namespace pgvault {

// True when PGVAULT_TEST_CRASH_AT is set (read once, at the first call).
bool CrashPointsArmed();

enum class CrashKind { kAfterWrite, kMidWrite };

// Counts one crash point; kills the process if it is the one PGVAULT_TEST_CRASH_AT names.
// `what` says what has just been made durable (or half written), for the test's log.
void CrashPoint(std::string_view what, CrashKind kind = CrashKind::kAfterWrite);

}  // namespace pgvault
