// The options another pgvault process needs to reach the same repository: restore writes them
// into restore_command (archive-get). Which options travel is the table's Forward column.
#pragma once

#include <string>
#include <vector>

#include "config/option_table.h"

namespace pgvault::config {

// path made absolute against the working directory (s3:// locations and "" as they are).
std::string AbsolutePath(const std::string& path);
// One /bin/sh word.
std::string ShellQuote(const std::string& word);
// An option's value as text ("" for an unset string; lists joined by ',').
std::string ValueText(const OptionSpec& spec, const Options& options);
// {"--repo", "/abs/repo", "--s3-uri-style", "host", ...}: every forwarded option whose value is
// set and differs from its default, paths made absolute. Never a secret.
std::vector<std::string> ForwardedArgs(const Options& options);
// restore_command: SELF FORWARDED... archive-get %f "%p", quoted for /bin/sh.
std::string RestoreCommand(const std::string& self, const Options& options);
// Every environment variable that holds a pgvault secret.
std::vector<std::string> SecretEnvNames();
// The secrets in pgvault's environment that a server restore starts must not inherit: those its
// restore_command (and, unless archiving is off, its archive_command) does not need.
// PGVAULT_NEW_PASSPHRASE always; PGVAULT_PASSPHRASE when a key file unlocks the repository or it
// is not encrypted; PGVAULT_S3_KEY and PGVAULT_S3_KEY_SECRET when no repository is on S3.
std::vector<std::string> ServerEnvToDrop(const Options& options, bool encrypted,
                                         bool archive_mode_off);

}  // namespace pgvault::config
