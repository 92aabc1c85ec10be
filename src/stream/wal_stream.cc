#include "stream/wal_stream.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/log.h"
#include "common/time.h"
#include "pg/replication.h"
#include "pg/wal_header.h"
#include "pg/wal_names.h"
#include "repo/wal_store.h"
#include "stream/segment_spool.h"

namespace pgvault::stream {
namespace {

class Streamer {
 public:
  Streamer(repo::Repository& repo, const StreamOptions& options)
      : repo_(repo), options_(options), spool_(options.spool_path) {}

  // Uploads what a killed run left in the spool, before any server is asked for anything.
  Status RecoverSpool();
  // One connection: identify, choose the start, stream until stop or failure. Sets `fatal`
  // for errors that must end the run; `streamed` once WAL arrived on this connection.
  Status Session(bool& fatal, bool& streamed);
  // Stores what was received of the current segment (on stop and on a lost connection).
  Status StoreReceived();

 private:
  Status ChooseStart(pg::ReplicationConnection& conn, const pg::SystemIdentity& id, uint32_t& tli,
                     uint64_t& lsn);
  Status Append(uint64_t start, ByteView data);
  Status CompleteSegment();
  Status FlushAndReport(pg::ReplicationConnection& conn);
  Status UploadPartial();
  Status FollowTimeline(pg::ReplicationConnection& conn);

  uint64_t SegmentStart(uint64_t lsn) const { return lsn - lsn % segment_size_; }
  void Stored(uint64_t lsn) {
    stored_ = std::max(stored_, lsn);
    stored_unix_ = NowUnixMicros() / 1000000;
  }

  repo::Repository& repo_;
  const StreamOptions& options_;
  SegmentSpool spool_;
  uint64_t segment_size_ = 0;
  uint32_t tli_ = 0;
  uint64_t position_ = 0;  // the next byte expected
  uint64_t flushed_ = 0;   // synced to the spool and reported
  uint64_t uploaded_ = 0;  // bytes of the current segment stored as a streamed part
  uint64_t stored_ = 0, server_end_ = 0;
  int64_t stored_unix_ = 0;
  double last_upload_ = 0, last_report_ = 0;
  std::optional<SpooledSegment> leftover_;
};

Status Streamer::RecoverSpool() {
  PGV_ASSIGN_OR_RETURN(leftover_, spool_.Recover());
  if (!leftover_ || leftover_->length == 0) return Status::Ok();
  PGV_ASSIGN_OR_RETURN(Bytes data, spool_.Read(leftover_->name, leftover_->length));
  PGV_ASSIGN_OR_RETURN(uint64_t segment_size, repo_.RecordedWalSegmentSize());
  // A part too short to hold its long page header has nothing to replay: streamed again.
  if (!repo::PadStreamPart(leftover_->name, data, segment_size).ok()) return Status::Ok();
  PGV_ASSIGN_OR_RETURN(auto outcome, repo::PushStreamPartial(repo_, leftover_->name, data));
  log::Info("stored the {} bytes of '{}' that an earlier run had received{}", data.size(),
            leftover_->name, outcome == repo::PushOutcome::kStored ? "" : " (already stored)");
  return repo::DeleteStreamPartials(repo_, leftover_->name, data.size());
}

Status Streamer::ChooseStart(pg::ReplicationConnection& conn, const pg::SystemIdentity& id,
                             uint32_t& tli, uint64_t& lsn) {
  PGV_ASSIGN_OR_RETURN(auto slot, conn.ReadSlot(options_.slot));
  if (!slot) {
    if (!options_.create_slot)
      return std::move(Status::Config(fmt::format("replication slot '{}' does not exist on '{}'",
                                                  options_.slot, conn.server())))
          .WithHint(fmt::format("add --create-slot, or create it: SELECT "
                                "pg_create_physical_replication_slot('{}', true)",
                                options_.slot));
    PGV_RETURN_IF_ERROR(conn.CreateSlot(options_.slot));
    log::Info("created physical replication slot '{}' on '{}'", options_.slot, conn.server());
    PGV_ASSIGN_OR_RETURN(slot, conn.ReadSlot(options_.slot));
    if (!slot)
      return Status::Pg(fmt::format("slot '{}' vanished after it was created", options_.slot));
  }
  // Resume the segment this process (or a killed run) was receiving: the slot kept it (or, on
  // a server that took over, its copy of the old timeline leads to the new one).
  if (spool_.is_open() || leftover_) {
    std::string name = spool_.is_open() ? spool_.name() : leftover_->name;
    uint64_t segno = 0;
    pg::ParseSegmentName(name, tli, segno, segment_size_);
    lsn = segno * segment_size_;
    return Status::Ok();
  }
  uint64_t current = SegmentStart(id.xlog_position);
  tli = slot->restart_tli ? slot->restart_tli : id.timeline;
  lsn = slot->restart_lsn ? SegmentStart(slot->restart_lsn) : current;
  // Where the repository's WAL of the server's timeline ends (archive_command may be ahead of
  // the slot): no need to stream again what is stored.
  PGV_ASSIGN_OR_RETURN(auto wal, repo_.ListWal());
  for (auto it = wal.rbegin(); it != wal.rend(); ++it) {
    uint32_t wal_tli = 0;
    uint64_t segno = 0;
    if (pg::ClassifyWalFileName(it->name) != pg::WalFileKind::kSegment ||
        !pg::ParseSegmentName(it->name, wal_tli, segno, segment_size_) || wal_tli != id.timeline)
      continue;
    uint64_t next = (segno + 1) * segment_size_;
    if (next > lsn && next <= current) {
      lsn = next;
      tli = id.timeline;
    }
    break;
  }
  return Status::Ok();
}

Status Streamer::Session(bool& fatal, bool& streamed) {
  fatal = false;
  streamed = false;
  auto conn = pg::ReplicationConnection::Connect(options_.conn, options_.application_name);
  if (!conn.ok()) return conn.status();
  auto id = (*conn)->IdentifySystem();
  if (!id.ok()) return id.status();
  // Nothing is written for a server that is not the repository's cluster.
  Status cluster =
      repo_.CheckCluster(id->system_identifier, id->version_major, id->wal_segment_size);
  if (!cluster.ok()) {
    fatal = true;
    return cluster;
  }
  segment_size_ = id->wal_segment_size;
  uint32_t tli = 0;
  uint64_t lsn = 0;
  if (Status s = ChooseStart(**conn, *id, tli, lsn); !s.ok()) {
    fatal = s.code() == Code::kConfig;
    return s;
  }
  PGV_RETURN_IF_ERROR((*conn)->StartReplication(options_.slot, lsn, tli));
  log::Info("streaming WAL from '{}' at {} on timeline {} through slot '{}'", (*conn)->server(),
            pg::FormatLsn(lsn), tli, options_.slot);
  tli_ = tli;
  position_ = flushed_ = lsn;
  uploaded_ = 0;
  leftover_.reset();
  PGV_RETURN_IF_ERROR(spool_.Open(pg::SegmentName(tli_, lsn, segment_size_)));
  streamed = true;
  last_report_ = last_upload_ = MonotonicSeconds();
  for (;;) {
    if (options_.stop_requested && options_.stop_requested()) {
      PGV_RETURN_IF_ERROR(FlushAndReport(**conn));
      return Status::Ok();
    }
    // Take everything that has arrived (up to a bound), then sync and report once.
    bool reply = false;
    size_t batch = 0;
    for (int wait_ms = 100; batch < (8u << 20); wait_ms = 0) {
      PGV_ASSIGN_OR_RETURN(pg::StreamMessage msg, (*conn)->Receive(wait_ms));
      using K = pg::StreamMessage::Kind;
      if (msg.kind == K::kNone) break;
      server_end_ = std::max(server_end_, msg.server_end);
      if (msg.kind == K::kKeepalive) {
        reply = reply || msg.reply_requested;
        continue;
      }
      if (msg.kind == K::kEndOfTimeline) {
        PGV_RETURN_IF_ERROR(FollowTimeline(**conn));
        break;
      }
      PGV_RETURN_IF_ERROR(Append(msg.start, msg.data));
      batch += msg.data.size();
    }
    double now = MonotonicSeconds();
    if (reply || (options_.synchronous && position_ > flushed_) || now - last_report_ >= 1.0)
      PGV_RETURN_IF_ERROR(FlushAndReport(**conn));
    if (now - last_upload_ >= options_.partial_interval) PGV_RETURN_IF_ERROR(UploadPartial());
  }
}

Status Streamer::Append(uint64_t start, ByteView data) {
  if (start != position_)
    return Status::Pg(fmt::format("the server sent WAL at {} while {} was expected",
                                  pg::FormatLsn(start), pg::FormatLsn(position_)));
  while (!data.empty()) {
    uint64_t offset = position_ % segment_size_;
    size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), segment_size_ - offset));
    PGV_RETURN_IF_ERROR(spool_.Write(offset, data.first(n)));
    position_ += n;
    data = data.subspan(n);
    if (position_ % segment_size_ == 0) PGV_RETURN_IF_ERROR(CompleteSegment());
  }
  return Status::Ok();
}

Status Streamer::CompleteSegment() {
  std::string name = spool_.name();
  PGV_RETURN_IF_ERROR(spool_.Sync());
  PGV_ASSIGN_OR_RETURN(Bytes content, spool_.Read(name, segment_size_));
  PGV_ASSIGN_OR_RETURN(auto header, pg::ParseWalSegmentHeader(content));
  PGV_RETURN_IF_ERROR(pg::CheckSegmentIdentity(fmt::format("streamed segment '{}'", name), name,
                                               header, segment_size_));
  PGV_ASSIGN_OR_RETURN(auto outcome, repo::PushWal(repo_, name, content));
  log::Info("{} segment '{}'",
            outcome == repo::PushOutcome::kStored ? "stored streamed" : "streamed already archived",
            name);
  PGV_RETURN_IF_ERROR(repo::DeleteStreamPartials(repo_, name));
  PGV_RETURN_IF_ERROR(spool_.Remove(name));
  uploaded_ = 0;
  Stored(position_);
  return spool_.Open(pg::SegmentName(tli_, position_, segment_size_));
}

Status Streamer::FlushAndReport(pg::ReplicationConnection& conn) {
  if (position_ > flushed_) {
    PGV_RETURN_IF_ERROR(spool_.Sync());
    flushed_ = position_;
  }
  last_report_ = MonotonicSeconds();
  PGV_RETURN_IF_ERROR(conn.SendStatus(position_, flushed_));
  if (options_.on_progress)
    options_.on_progress({.timeline = tli_,
                          .received = position_,
                          .flushed = flushed_,
                          .stored = stored_,
                          .server_end = std::max(server_end_, position_),
                          .stored_unix = stored_unix_});
  return Status::Ok();
}

Status Streamer::UploadPartial() {
  last_upload_ = MonotonicSeconds();
  if (!spool_.is_open()) return Status::Ok();
  uint64_t length = flushed_ - SegmentStart(flushed_);
  if (SegmentStart(flushed_) != SegmentStart(position_)) length = 0;  // flushed lags a segment
  if (length <= uploaded_) return Status::Ok();
  PGV_ASSIGN_OR_RETURN(Bytes data, spool_.Read(spool_.name(), length));
  PGV_RETURN_IF_ERROR(repo::PushStreamPartial(repo_, spool_.name(), data).status());
  PGV_RETURN_IF_ERROR(repo::DeleteStreamPartials(repo_, spool_.name(), length));
  uploaded_ = length;
  Stored(SegmentStart(flushed_) + length);
  log::Debug("stored the first {} bytes of '{}'", length, spool_.name());
  return Status::Ok();
}

Status Streamer::StoreReceived() {
  if (!spool_.is_open() || segment_size_ == 0) return Status::Ok();
  PGV_RETURN_IF_ERROR(spool_.Sync());
  flushed_ = position_;
  return UploadPartial();
}

// The server streamed its timeline to the end (a standby was promoted): the rest of this
// segment belongs to the next timeline. As PostgreSQL does at promotion, the received part is
// stored as <segment>.partial, then the new timeline's history file, then streaming goes on
// from the start of the segment where the new timeline begins.
Status Streamer::FollowTimeline(pg::ReplicationConnection& conn) {
  PGV_ASSIGN_OR_RETURN(pg::NextTimeline next, conn.FinishTimeline());
  PGV_RETURN_IF_ERROR(spool_.Sync());
  std::string name = spool_.name();
  uint64_t length = position_ - SegmentStart(position_);
  if (length > 0) {
    PGV_ASSIGN_OR_RETURN(Bytes data, spool_.Read(name, length));
    data.resize(segment_size_, 0);
    PGV_RETURN_IF_ERROR(repo::PushWal(repo_, name + ".partial", data).status());
  }
  PGV_RETURN_IF_ERROR(repo::DeleteStreamPartials(repo_, name));
  PGV_RETURN_IF_ERROR(spool_.Remove(name));
  PGV_ASSIGN_OR_RETURN(pg::HistoryFile history, conn.TimelineHistory(next.timeline));
  PGV_RETURN_IF_ERROR(repo::PushWal(repo_, history.name, AsBytes(history.content)).status());
  log::Info("timeline {} ended at {}; following timeline {} (stored '{}')", tli_,
            pg::FormatLsn(next.start), next.timeline, history.name);
  tli_ = next.timeline;
  position_ = flushed_ = SegmentStart(next.start);
  uploaded_ = 0;
  PGV_RETURN_IF_ERROR(conn.StartReplication(options_.slot, position_, tli_));
  return spool_.Open(pg::SegmentName(tli_, position_, segment_size_));
}

}  // namespace

Status RunWalStream(repo::Repository& repo, const StreamOptions& options) {
  if (!pg::IsValidSlotName(options.slot))
    return std::move(Status::Config(fmt::format("'{}' is not a valid slot name", options.slot)))
        .WithHint("use 1 to 63 lower-case letters, digits and underscores");
  if (options.spool_path.empty())
    return std::move(Status::Config("wal-stream needs a spool directory"))
        .WithHint("add --spool-path DIR: a local directory for the segment being received");
  Streamer streamer(repo, options);
  PGV_RETURN_IF_ERROR(streamer.RecoverSpool());
  bool ever_streamed = false;
  double backoff = 1;
  for (;;) {
    bool fatal = false, streamed = false;
    Status s = streamer.Session(fatal, streamed);
    ever_streamed = ever_streamed || streamed;
    // Whatever arrived is stored before anything else: the primary may be gone for good.
    Status stored = streamer.StoreReceived();
    if (!stored.ok()) log::Warn("{}", stored.ToString());
    bool stopping = options.stop_requested && options.stop_requested();
    // Asked to stop: a connection lost on the way out is no failure; storing is.
    if (stopping || s.ok()) return stored;
    // A configuration that never worked is an error now, not a retry loop.
    if (fatal || !ever_streamed) return s;
    if (streamed) backoff = 1;  // it worked until now: the first retry comes soon
    log::Warn("{}; retrying in {:.0f} s", s.ToString(), backoff);
    for (double until = MonotonicSeconds() + backoff; MonotonicSeconds() < until;) {
      if (options.stop_requested && options.stop_requested()) return Status::Ok();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    backoff = std::min(backoff * 2, 30.0);
  }
}

}  // namespace pgvault::stream
