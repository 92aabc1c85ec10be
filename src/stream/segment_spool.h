// SegmentSpool: wal-stream's local, durable copy of the segment it is receiving, one file
// <dir>/<segment name>.partial written at the offsets the server sends. Synced before the
// server hears that the bytes are flushed, so that what the server may forget (its slot moves
// past it) is on this disk. A spool file left by a killed run is found at start and uploaded
// before anything else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/file.h"
#include "common/status.h"

namespace pgvault::stream {

struct SpooledSegment {
  std::string name;     // WAL segment name
  uint64_t length = 0;  // bytes in the file
};

class SegmentSpool {
 public:
  explicit SegmentSpool(std::string dir) : dir_(std::move(dir)) {}

  // Creates the directory (0700) and returns the segment a previous run left, if any (the
  // oldest when there are several: the newer ones are redone by streaming).
  Result<std::optional<SpooledSegment>> Recover();
  // Starts segment `name` (a new, empty file; an existing one is truncated).
  Status Open(const std::string& name);
  const std::string& name() const { return name_; }
  bool is_open() const { return fd_.get() >= 0; }
  // Writes data at offset of the open segment.
  Status Write(uint64_t offset, ByteView data);
  // fsync: everything written is durable.
  Status Sync();
  // The first length bytes of segment `name` (open or left by a previous run).
  Result<Bytes> Read(const std::string& name, uint64_t length);
  // Removes the file of segment `name` (closing it if open).
  Status Remove(const std::string& name);

 private:
  std::string PathOf(const std::string& name) const { return dir_ + "/" + name + ".partial"; }
  std::string dir_;
  std::string name_;
  UniqueFd fd_;
};

}  // namespace pgvault::stream
