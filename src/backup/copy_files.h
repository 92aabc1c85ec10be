// The copy phase of a backup: workers take jobs from JobSource, back each file (or range of a
// large file) up with BackupFile into their own packs, and hand the results to OrderedSink,
// which writes the entries to the manifest in path order. RunBackup calls CopyFiles between
// pg_backup_start and pg_backup_stop; tests call it (or RunCopyWorker) on a directory of their
// own.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <stop_token>
#include <vector>

#include "backup/file_jobs.h"
#include "backup/file_worker.h"
#include "backup/page_check.h"
#include "backup/pgdata_walk.h"
#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/repository.h"

namespace pgvault::backup {

struct CopyOptions {
  int jobs = 2;  // worker threads (at least 1; the calling thread is one of them)
  // Blocks per job of a large file; 0 = kWorkUnitBytes worth of blocks.
  uint64_t range_blocks = 0;
  // >0: new packs are locked (S3 Object Lock) until then, and the packs the manifest refers to
  // are collected into CopyTotals::referenced_packs so that their retention can be extended.
  int64_t lock_until_unix = 0;
  // >0: files unchanged since the parent read them are not read (JobSource, file_jobs.h).
  int64_t unchanged_before = 0;
  // The storage class of new packs ("": the repository's); reused blocks keep their pack's.
  std::string storage_class;
  // Called on worker threads with the bytes just read; may be empty.
  std::function<void(uint64_t)> on_read;
  // Data pages are checked against their checksums when set (page_check.h).
  const PageCheckConfig* page_check = nullptr;
  DirectIo direct_io = DirectIo::kAuto;  // common/direct_io.h
};

// What the copy phase counted, for the manifest header's stats.
struct CopyTotals {
  BlockCounters counters;
  pipeline::StageTimes times;
  repo::PackStats packs;                    // summed over the workers' pack writers
  std::set<repo::PackId> referenced_packs;  // only with CopyOptions::lock_until_unix
};

// One worker: takes jobs until there are none left, stop is requested or an error; backs up a
// file job with BackupFile (errors name the file) and takes a directory or symlink entry from
// the walk; puts every result into sink; flushes ctx.packs at the end if all went well.
Status RunCopyWorker(JobSource& jobs, OrderedSink& sink, WorkerContext& ctx,
                     const std::stop_token& stop);

// Backs up entries (from WalkPgdata) into manifest's entries, reusing blocks of parent (may be
// null) and storing new ones in packs. The first error stops every worker and is the result;
// the manifest is then incomplete and must not be finished.
Status CopyFiles(repo::Repository& repo, const std::vector<WalkEntry>& entries,
                 repo::ManifestReader* parent, repo::ManifestWriter& manifest,
                 const CopyOptions& options, CopyTotals& totals);

}  // namespace pgvault::backup
