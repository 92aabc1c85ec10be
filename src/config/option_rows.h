// The option table's rows (option_rows.cc), in --help order. Only option_table.cc calls this:
// everyone else uses OptionTable().
#pragma once

#include <vector>

#include "config/option_table.h"

namespace pgvault::config {

std::vector<OptionSpec> BuildOptionTable();

// The sets of commands that rows name, shared by the two files of rows.
namespace rows {
using C = Command;
constexpr CommandSet kAll = kAllCommands;
// Every command that opens a repository.
constexpr CommandSet kRepo = kAll & ~Bit(C::kVersion);
constexpr CommandSet kStream = Bit(C::kWalStream);
constexpr CommandSet kPg = Bit(C::kBackup) | Bit(C::kRestore) | Bit(C::kCheck) | kStream;
constexpr CommandSet kJobs = Bit(C::kRepoCreate) | Bit(C::kBackup) | Bit(C::kRestore) |
                             Bit(C::kArchivePush) | Bit(C::kArchiveGet) | Bit(C::kVerify) |
                             Bit(C::kRepoSync) | Bit(C::kDrill);
constexpr CommandSet kCreate = Bit(C::kRepoCreate);
constexpr CommandSet kRestore = Bit(C::kRestore);
constexpr CommandSet kDrill = Bit(C::kDrill);
// Recovery targets: restore, and drill, which restores and recovers the same way.
constexpr CommandSet kTarget = kRestore | kDrill;
constexpr CommandSet kPush = Bit(C::kArchivePush);
// The commands that apply or show the retention policy.
constexpr CommandSet kPolicy = Bit(C::kBackup) | Bit(C::kExpire) | Bit(C::kInfo);
constexpr CommandSet kDaemon = Bit(C::kDaemon);

// The groups defined in option_rows_commands.cc.
std::vector<OptionSpec> PostgresAndPerformanceOptions();
std::vector<OptionSpec> RestoreOptions();
std::vector<OptionSpec> RecoveryOptions();
std::vector<OptionSpec> DrillOptions();
std::vector<OptionSpec> ArchiveAndOutputOptions();
std::vector<OptionSpec> CheckOptions();
std::vector<OptionSpec> DaemonOptions();
std::vector<OptionSpec> StreamOptions();
}  // namespace rows

}  // namespace pgvault::config
