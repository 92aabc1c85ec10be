// `pgvault wal-stream`: receives WAL from a primary (or standby) over the streaming replication
// protocol, as pg_receivewal does, into the repository: every completed segment is stored
// exactly as archive-push stores it (same object, so restore and PITR use streamed and archived
// WAL alike, and a segment stored by both is fine), and the segment being received is stored
// every --partial-interval as a streamed part (stream/ in docs/repository-format.md) that
// archive-get serves when the archive ends there.
//
// Durability: received bytes go to a spool file (segment_spool.h) and are fsynced before the
// server hears they are flushed; the replication slot therefore never moves past WAL that only
// the server had. With --synchronous every batch is fsynced and reported at once, so a primary
// that names pgvault in synchronous_standby_names returns a commit only once its WAL is on
// pgvault's disk. docs/design.md, "Streaming WAL".
#pragma once

#include <functional>
#include <string>

#include "pg/session.h"
#include "repo/repository.h"

namespace pgvault::stream {

// Where streaming stands, reported after every status update to the server.
struct StreamProgress {
  uint32_t timeline = 0;
  uint64_t received = 0;    // the next byte expected
  uint64_t flushed = 0;     // on pgvault's disk, and reported to the server
  uint64_t stored = 0;      // in the repository (a whole segment or a streamed part)
  uint64_t server_end = 0;  // the server's WAL position, from its latest message
  int64_t stored_unix = 0;  // when `stored` last advanced (0: not yet)
};

struct StreamOptions {
  pg::ConnOptions conn;
  std::string slot = "pgvault";
  bool create_slot = false;       // create the slot when it does not exist (else an error)
  bool synchronous = false;       // report flush after every batch (see above)
  double partial_interval = 1.0;  // seconds between uploads of the segment being received
  std::string spool_path;         // local directory for the segment being received
  std::string application_name = "pgvault";
  // Polled between messages: true ends the stream once what was received is stored.
  std::function<bool()> stop_requested;
  // Called after each status update (the daemon's metrics); may be empty.
  std::function<void(const StreamProgress&)> on_progress;
};

// Streams until stop_requested (then Ok) or an error that retrying cannot fix: a repository of
// another cluster, a missing slot without create_slot, a user without REPLICATION (kConfig,
// kConflict or kPg, naming the fix). A lost connection is retried with backoff; nothing is
// written to the repository before the server proved it is the repository's cluster.
Status RunWalStream(repo::Repository& repo, const StreamOptions& options);

}  // namespace pgvault::stream
