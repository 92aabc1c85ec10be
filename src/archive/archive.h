// archive-push and archive-get: PostgreSQL's archive_command and restore_command.
#pragma once

#include <string>

#include "repo/repository.h"

namespace pgvault::archive {

// Validates that path is a WAL file PostgreSQL produced, then stores it (idempotently).
// Returns a one-line description of what happened.
Result<std::string> ArchivePush(repo::Repository& repo, const std::string& path);
// Writes the named WAL file to dest atomically. kNotFound when the repository lacks it.
Status ArchiveGet(repo::Repository& repo, const std::string& name, const std::string& dest);

}  // namespace pgvault::archive
