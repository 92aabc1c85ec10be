#include "pg/replication.h"

#include <fmt/format.h>
#include <poll.h>

#include <chrono>
#include <cstring>

#include "pg/libpq.h"
#include "pg/wal_names.h"

namespace pgvault::pg {
namespace {

uint64_t ReadU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

void WriteU64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

// Microseconds since 2000-01-01 00:00 UTC, PostgreSQL's epoch for protocol timestamps.
int64_t PgNowMicros() {
  constexpr int64_t kPgEpochUnixSeconds = 946684800;
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::microseconds>(now).count() -
         kPgEpochUnixSeconds * 1000000;
}

// "16MB", "1GB", "16777216" (bytes) as SHOW wal_segment_size prints them.
std::optional<uint64_t> ParseSize(const std::string& text) {
  size_t used = 0;
  uint64_t n = 0;
  try {
    n = std::stoull(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(used);
  if (unit.empty() || unit == "B") return n;
  if (unit == "kB") return n << 10;
  if (unit == "MB") return n << 20;
  if (unit == "GB") return n << 30;
  return std::nullopt;
}

}  // namespace

bool IsValidSlotName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

Result<std::unique_ptr<ReplicationConnection>> ReplicationConnection::Connect(
    const ConnOptions& options, const std::string& application) {
  PGV_ASSIGN_OR_RETURN(const PqApi* pq, Pq());
  std::string msg;
  PGconn* conn = PqConnect(*pq,
                           {{"host", options.host},
                            {"port", std::to_string(options.port)},
                            {"user", options.user},
                            {"dbname", "replication"},
                            {"replication", "true"},
                            {"application_name", application},
                            {"connect_timeout", "10"}},
                           false, msg);
  if (!conn) {
    std::string hint =
        msg.find("replication") != std::string::npos || msg.find("pg_hba") != std::string::npos
            ? "the user needs the REPLICATION attribute (ALTER ROLE ... REPLICATION) and a "
              "'host replication' line in pg_hba.conf"
            : "is the cluster running? check --pg-host, --pg-port and --pg-user";
    return std::move(Status::Pg(fmt::format("cannot open a replication connection to '{}': {}",
                                            options.Describe(), msg)))
        .WithHint(hint);
  }
  return std::unique_ptr<ReplicationConnection>(
      new ReplicationConnection(conn, options.Describe()));
}

ReplicationConnection::~ReplicationConnection() {
  FreeBuffer();
  (*Pq())->finish(conn_);
}

void ReplicationConnection::FreeBuffer() {
  if (buffer_) (*Pq())->freemem(buffer_);
  buffer_ = nullptr;
}

Status ReplicationConnection::Lost(const std::string& what) {
  const PqApi* pq = *Pq();
  return std::move(Status::Pg(fmt::format("replication connection to '{}' failed while {}: {}",
                                          server_, what, PqFirstLine(pq->error_message(conn_)))))
      .WithHint("pgvault wal-stream reconnects and resumes from its replication slot");
}

Result<std::vector<Row>> ReplicationConnection::Command(const std::string& command) {
  const PqApi* pq = *Pq();
  return TakeRows(*pq, conn_, pq->exec(conn_, command.c_str()), server_);
}

Result<SystemIdentity> ReplicationConnection::IdentifySystem() {
  PGV_ASSIGN_OR_RETURN(auto rows, Command("IDENTIFY_SYSTEM"));
  if (rows.size() != 1 || rows[0].size() < 3 || !rows[0][0] || !rows[0][1] || !rows[0][2])
    return Status::Pg(fmt::format("IDENTIFY_SYSTEM on '{}' returned no row", server_));
  SystemIdentity id;
  auto lsn = ParseLsn(*rows[0][2]);
  try {
    id.system_identifier = std::stoull(*rows[0][0]);
    id.timeline = static_cast<uint32_t>(std::stoul(*rows[0][1]));
  } catch (const std::exception&) {
    lsn.reset();
  }
  if (!lsn) return Status::Pg(fmt::format("IDENTIFY_SYSTEM on '{}' returned bad values", server_));
  id.xlog_position = *lsn;
  id.version_major = (*Pq())->server_version(conn_) / 10000;
  PGV_ASSIGN_OR_RETURN(auto size_rows, Command("SHOW wal_segment_size"));
  std::optional<uint64_t> size;
  if (!size_rows.empty() && !size_rows[0].empty() && size_rows[0][0])
    size = ParseSize(*size_rows[0][0]);
  if (!size) return Status::Pg(fmt::format("'{}' did not report wal_segment_size", server_));
  id.wal_segment_size = *size;
  return id;
}

Result<std::optional<SlotPosition>> ReplicationConnection::ReadSlot(const std::string& slot) {
  PGV_ASSIGN_OR_RETURN(auto rows, Command(fmt::format("READ_REPLICATION_SLOT {}", slot)));
  if (rows.empty() || rows[0].size() < 3 || !rows[0][0]) return std::optional<SlotPosition>();
  if (*rows[0][0] != "physical")
    return std::move(Status::Pg(fmt::format("replication slot '{}' on '{}' is a {} slot", slot,
                                            server_, *rows[0][0])))
        .WithHint("pass --slot with the name of a physical slot (or a new one and --create-slot)");
  SlotPosition pos;
  if (rows[0][1]) pos.restart_lsn = ParseLsn(*rows[0][1]).value_or(0);
  if (rows[0][2]) pos.restart_tli = static_cast<uint32_t>(std::stoul(*rows[0][2]));
  return std::optional<SlotPosition>(pos);
}

Status ReplicationConnection::CreateSlot(const std::string& slot) {
  return Command(fmt::format("CREATE_REPLICATION_SLOT {} PHYSICAL RESERVE_WAL", slot)).status();
}

Result<HistoryFile> ReplicationConnection::TimelineHistory(uint32_t timeline) {
  PGV_ASSIGN_OR_RETURN(auto rows, Command(fmt::format("TIMELINE_HISTORY {}", timeline)));
  if (rows.size() != 1 || rows[0].size() < 2 || !rows[0][0] || !rows[0][1])
    return Status::Pg(
        fmt::format("TIMELINE_HISTORY {} on '{}' returned no file", timeline, server_));
  return HistoryFile{*rows[0][0], *rows[0][1]};
}

Status ReplicationConnection::StartReplication(const std::string& slot, uint64_t lsn,
                                               uint32_t timeline) {
  const PqApi* pq = *Pq();
  std::string command = fmt::format("START_REPLICATION SLOT {} PHYSICAL {} TIMELINE {}", slot,
                                    FormatLsn(lsn), timeline);
  PGresult* res = pq->exec(conn_, command.c_str());
  ExecStatusType st = pq->result_status(res);
  std::string msg = st == PGRES_COPY_BOTH ? "" : PqFirstLine(pq->result_error_message(res));
  pq->clear(res);
  if (st == PGRES_COPY_BOTH) return Status::Ok();
  return std::move(Status::Pg(fmt::format("'{}' refused to stream from {} on timeline {}: {}",
                                          server_, FormatLsn(lsn), timeline, msg)))
      .WithHint(msg.find("removed") != std::string::npos
                    ? "the server no longer has that WAL: archive_command must fill the gap, or "
                      "take a new backup"
                    : "check the slot and that the server is the cluster of this repository");
}

Result<StreamMessage> ReplicationConnection::Receive(int timeout_ms) {
  const PqApi* pq = *Pq();
  FreeBuffer();
  for (int attempt = 0; attempt < 2; ++attempt) {
    int n = pq->get_copy_data(conn_, &buffer_, 1);
    if (n == 0) {
      if (attempt == 1 || timeout_ms <= 0) return StreamMessage{};
      pollfd pfd{.fd = pq->socket(conn_), .events = POLLIN, .revents = 0};
      if (::poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) return Lost("waiting for WAL");
      if (pq->consume_input(conn_) == 0) return Lost("reading WAL");
      continue;
    }
    if (n == -1) return StreamMessage{.kind = StreamMessage::Kind::kEndOfTimeline};
    if (n < 0) return Lost("reading WAL");
    const char* p = buffer_;
    if (p[0] == 'w' && n >= 25)
      return StreamMessage{
          .kind = StreamMessage::Kind::kData,
          .start = ReadU64(p + 1),
          .data = ByteView(reinterpret_cast<const uint8_t*>(p + 25), static_cast<size_t>(n - 25)),
          .server_end = ReadU64(p + 9)};
    if (p[0] == 'k' && n >= 18)
      return StreamMessage{.kind = StreamMessage::Kind::kKeepalive,
                           .server_end = ReadU64(p + 1),
                           .reply_requested = p[17] != 0};
    return Status::Pg(
        fmt::format("'{}' sent an unknown replication message '{}' ({} bytes)", server_, p[0], n));
  }
  return StreamMessage{};
}

Status ReplicationConnection::SendStatus(uint64_t written, uint64_t flushed) {
  const PqApi* pq = *Pq();
  char msg[34];
  msg[0] = 'r';
  WriteU64(msg + 1, written);
  WriteU64(msg + 9, flushed);
  WriteU64(msg + 17, 0);  // nothing is applied: pgvault is not a server
  WriteU64(msg + 25, static_cast<uint64_t>(PgNowMicros()));
  msg[33] = 0;  // pgvault never asks the server for a reply
  if (pq->put_copy_data(conn_, msg, sizeof msg) <= 0 || pq->flush(conn_) != 0)
    return Lost("sending a status update");
  return Status::Ok();
}

Result<NextTimeline> ReplicationConnection::FinishTimeline() {
  const PqApi* pq = *Pq();
  FreeBuffer();
  if (pq->put_copy_end(conn_, nullptr) <= 0 || pq->flush(conn_) != 0)
    return Lost("ending the stream of a timeline");
  std::optional<NextTimeline> next;
  // The server answers our CopyDone with a row (next timeline, its start), then CommandComplete.
  for (int results = 0; results < 8; ++results) {
    PGresult* res = pq->get_result(conn_);
    if (!res) break;
    ExecStatusType st = pq->result_status(res);
    if (st == PGRES_TUPLES_OK && pq->ntuples(res) == 1 && pq->nfields(res) >= 2) {
      auto lsn = ParseLsn(pq->getvalue(res, 0, 1));
      uint32_t tli = static_cast<uint32_t>(std::strtoul(pq->getvalue(res, 0, 0), nullptr, 10));
      if (lsn && tli > 0) next = NextTimeline{tli, *lsn};
    } else if (st != PGRES_COMMAND_OK && st != PGRES_COPY_IN && st != PGRES_COPY_BOTH &&
               st != PGRES_COPY_OUT) {
      std::string msg = PqFirstLine(pq->result_error_message(res));
      pq->clear(res);
      return Status::Pg(fmt::format("'{}' ended the stream with an error: {}", server_, msg));
    }
    pq->clear(res);
  }
  if (!next)
    return Status::Pg(
        fmt::format("'{}' ended the stream without naming the next timeline", server_));
  return *next;
}

}  // namespace pgvault::pg
