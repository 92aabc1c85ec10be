// Local file I/O shared by the posix storage driver and the commands: an owning descriptor,
// read/write loops that handle EINTR and short transfers in one place, the crash-safe
// "temp file, fsync, rename, fsync directory" write, and errno turned into a Status.
#pragma once

#include <functional>

#include <span>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace pgvault {

// Temp files of WriteFileAtomic start with this; listings skip them and keys may not hold it.
constexpr std::string_view kTempFileMarker = ".pgvault-tmp.";

// Owns a file descriptor and closes it when destroyed; movable, not copyable.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the current descriptor (ignoring close's error) and owns fd.
  void reset(int fd = -1);
  // Closes now and reports close(2)'s error: some file systems (NFS) report failed write-back
  // only there. "cannot close 'path': ..."
  Status Close(const std::string& path);

 private:
  int fd_ = -1;
};

// "what 'path': strerror(err)": ENOENT is kNotFound (callers rely on it to tell a missing file
// from a failure), EACCES/EPERM kIo with a hint about permissions, anything else kIo.
Status ErrnoStatus(std::string_view what, const std::string& path, int err);

// Reads into buf until it is full or the file ends; returns the bytes read (fewer than
// buf.size() only at end of file). Errors: "cannot read 'path': ...".
Result<size_t> ReadFull(int fd, std::span<uint8_t> buf, const std::string& path);
// ReadFull at offset, leaving the file position alone (safe to share fd between threads).
Result<size_t> PreadFull(int fd, std::span<uint8_t> buf, uint64_t offset, const std::string& path);
// Writes all of data. Errors: "cannot write 'path': ...".
Status WriteFull(int fd, ByteView data, const std::string& path);
// WriteFull at offset, leaving the file position alone.
Status PwriteFull(int fd, ByteView data, uint64_t offset, const std::string& path);

struct AtomicWriteOptions {
  int mode = 0640;
  // fsync the file before the rename and the directory after it, so the content survives a
  // crash once WriteFileAtomic returns. Without it a crash may leave the old content.
  bool sync = true;
  // Link instead of rename: kConflict "'path' already exists" when path exists, atomically.
  bool if_absent = false;
  // The temp file; empty: a unique name in path's directory starting with kTempFileMarker.
  // A fixed name is truncated if a crash left it behind.
  std::string temp_path;
};
// Writes data to path through a temp file and rename: a reader (or a crash) sees either the old
// content or the complete new one, never a torn file. On failure the temp file is removed and
// path is unchanged.
Status WriteFileAtomic(const std::string& path, ByteView data, const AtomicWriteOptions& options);
// The same with the content written by write_body(fd, temp_path) (e.g. while it is decoded);
// write_body's error is returned as it is.
using WriteBody = std::function<Status(int fd, const std::string& temp_path)>;
Status WriteFileAtomic(const std::string& path, const WriteBody& write_body,
                       const AtomicWriteOptions& options);

// Opens, fsyncs and closes a directory (makes entries created or renamed in it durable).
Status SyncDir(const std::string& dir);
// Creates dir and missing parents, fsyncing each parent that gained an entry.
Status MakeDirs(const std::string& dir, int mode = 0750);
// "/a/b" -> "/a", "b" -> ".", "/b" -> "/".
std::string DirName(const std::string& path);

}  // namespace pgvault
