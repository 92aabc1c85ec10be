// ReplicationConnection: a libpq connection in physical replication mode, speaking the
// streaming replication protocol (PostgreSQL docs, "Streaming Replication Protocol"): the
// commands IDENTIFY_SYSTEM, READ_REPLICATION_SLOT, CREATE_REPLICATION_SLOT, TIMELINE_HISTORY and
// START_REPLICATION, then the CopyBoth stream of XLogData and keepalive messages and the
// standby status updates that tell the server what is written and flushed. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/status.h"
#include "pg/session.h"

namespace pgvault::pg {

struct SystemIdentity {
  uint64_t system_identifier = 0;
  uint32_t timeline = 0;       // the server's current timeline
  uint64_t xlog_position = 0;  // its current flush position
  int version_major = 0;
  uint64_t wal_segment_size = 0;
};

struct SlotPosition {
  uint64_t restart_lsn = 0;  // 0 when the slot has not reserved WAL yet
  uint32_t restart_tli = 0;
};

struct HistoryFile {
  std::string name;     // e.g. 00000002.history
  std::string content;  // as PostgreSQL wrote it
};

// One message of the stream. kData: WAL bytes `data` that belong at `start` (valid until the
// next Receive). kKeepalive: the server's position, and whether it wants a status update now.
// kEndOfTimeline: the server has sent everything of the timeline it was asked for
// (FinishTimeline says where the next one starts). kNone: nothing arrived in time.
struct StreamMessage {
  enum class Kind { kNone, kData, kKeepalive, kEndOfTimeline };
  Kind kind = Kind::kNone;
  uint64_t start = 0;
  ByteView data;
  uint64_t server_end = 0;
  bool reply_requested = false;
};

struct NextTimeline {
  uint32_t timeline = 0;
  uint64_t start = 0;  // where it branched off the timeline that ended
};

// A physical slot name as PostgreSQL accepts it: 1-63 of [a-z0-9_].
bool IsValidSlotName(std::string_view name);

class ReplicationConnection {
 public:
  // Connects with replication=true; application_name is what synchronous_standby_names names.
  static Result<std::unique_ptr<ReplicationConnection>> Connect(const ConnOptions& options,
                                                                const std::string& application);
  ~ReplicationConnection();
  ReplicationConnection(const ReplicationConnection&) = delete;
  ReplicationConnection& operator=(const ReplicationConnection&) = delete;

  Result<SystemIdentity> IdentifySystem();
  // nullopt when the slot does not exist; kPg when it is not a physical slot.
  Result<std::optional<SlotPosition>> ReadSlot(const std::string& slot);
  // A physical slot that reserves WAL from now on.
  Status CreateSlot(const std::string& slot);
  Result<HistoryFile> TimelineHistory(uint32_t timeline);
  // Streams from lsn (a segment start) on timeline through the slot.
  Status StartReplication(const std::string& slot, uint64_t lsn, uint32_t timeline);
  // Waits up to timeout_ms for the next message (0: only what has arrived). kPg when the
  // connection is lost or the server reports an error.
  Result<StreamMessage> Receive(int timeout_ms);
  // A standby status update: written and flushed (durable) positions. The slot advances to
  // flushed; a synchronous primary lets commits up to flushed return.
  Status SendStatus(uint64_t written, uint64_t flushed);
  // After kEndOfTimeline: ends the copy and reads which timeline follows and where it starts.
  Result<NextTimeline> FinishTimeline();

  const std::string& server() const { return server_; }

 private:
  ReplicationConnection(PGconn* conn, std::string server)
      : conn_(conn), server_(std::move(server)) {}
  // Runs a replication command that returns rows (or none); kPg with the server's message.
  Result<std::vector<Row>> Command(const std::string& command);
  Status Lost(const std::string& what);
  void FreeBuffer();

  PGconn* conn_;
  std::string server_;
  char* buffer_ = nullptr;  // the last message from PQgetCopyData, freed at the next Receive
};

}  // namespace pgvault::pg
