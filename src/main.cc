// pgvault: backup and point-in-time recovery for PostgreSQL. The command table is in cli/.
#include <sys/prctl.h>

#include "cli/commands.h"

int main(int argc, char** argv) {
  // Every command may hold a repository key, a passphrase or S3 credentials in memory: no core
  // dump, and no ptrace or /proc/PID/mem or /proc/PID/environ by other processes of the same
  // user (they become root's), for the whole run.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return pgvault::cli::Main(argc, argv);
}
