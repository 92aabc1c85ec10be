// pgvault: backup and point-in-time recovery for PostgreSQL. The command table is in cli/.
#include "cli/commands.h"

int main(int argc, char** argv) { return pgvault::cli::Main(argc, argv); }
