#include "pipeline/compress.h"

#include <fmt/format.h>
#include <lz4.h>
// For ZSTD_c_useRowMatchFinder; see StrategyFor.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <algorithm>
#include <memory>
#include <thread>

namespace pgvault::pipeline {
namespace {

// zstd picks its parameters from the level and the input size. Two input classes do better
// with another match finder than the level's own, keeping the level's other parameters; both
// still produce ordinary zstd frames (docs/benchmarks.md has the measurements):
// - Blocks (128 KiB by default) are compressed one by one, so they lose the cross-block matches
//   a whole-file stream finds and each pays a fixed framing cost. On data made of many matches
//   (pgbench's tables: 22x) the lazy finder (what levels 6-7 use) makes blocks 10% smaller
//   than level 3's own dfast, at 1/3 of its speed; on data made mostly of literals (hashes,
//   timestamps, text: 2.5-3x) it gains only 2.6-5% and halves the speed, entropy coding being
//   most of the work. So a block takes the lazy finder when the previous block compressed on
//   this thread came out at least kLazyFromRatio smaller (a worker reads a file's blocks in
//   order, and files are of one kind), the level's own otherwise. On a pgbench cluster with
//   such a table: 1.9% more bytes than lazy for every block, 1.39x faster; the same bytes as
//   pgBackRest's whole-file streams.
//   The lazy finder runs on the classic hash chain, which zstd 1.5 replaced by its row-based
//   tables (same output, ~400 MB/s per core here against 711 MB/s; an experimental parameter: a
//   libzstd that rejects it keeps its default), with a short chain (4096 entries, one probe)
//   and 6-byte minimum matches (4-5 byte matches of tuple headers cost more to code than the
//   literals they replace): faster and smaller than level 3's lazy defaults on every sample.
// - WAL segments (16 MiB): "dfast" gains nothing over "fast" on WAL (0.5% bigger on pgbench
//   WAL) and takes 35% longer; archive-push compresses one segment per process.
// Levels 1-2 and 6+ are used as zstd defines them.
constexpr size_t kSmallInput = 256 << 10;
constexpr size_t kLargeInput = 4 << 20;
constexpr int kTunedFromLevel = 3;
constexpr int kTunedUntilLevel = 5;
constexpr size_t kLazyFromRatio = 3;
constexpr int kBlockChainLog = 12;
constexpr int kBlockSearchLog = 1;
constexpr int kBlockMinMatch = 6;

// 0 keeps the level's own match finder. previous_ratio_high: the last block compressed on this
// thread came out at least kLazyFromRatio smaller.
int StrategyFor(int level, size_t input_size, bool previous_ratio_high) {
  if (level < kTunedFromLevel || level > kTunedUntilLevel) return 0;
  if (input_size <= kSmallInput) return previous_ratio_high ? ZSTD_lazy : 0;
  if (input_size >= kLargeInput && level == kTunedFromLevel) return ZSTD_fast;
  return 0;
}

// A WAL segment is compressed while PostgreSQL's archiver waits for archive-push: zstd's own
// worker threads split it into jobs (a few MiB each, same frame format) so that a second core
// halves that wait. Blocks of a backup are small and already run on every core.
int WorkersFor(size_t input_size) {
  if (input_size < kLargeInput) return 0;
  static const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores, 0, 2) > 1 ? 2 : 0;
}

// A compression context and the parameters currently set on it.
struct Compressor {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  int level = 0;     // 0: none set yet
  int strategy = 0;  // 0: the level's own
  int workers = 0;   // ZSTD_c_nbWorkers: 0 compresses on the calling thread
  ~Compressor() { ZSTD_freeCCtx(cctx); }

  // cctx, set up for these parameters (only when they changed: setting them costs a reset).
  ZSTD_CCtx* With(int new_level, int new_strategy, int new_workers) {
    if (level == new_level && strategy == new_strategy && workers == new_workers) return cctx;
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, new_level);
    if (new_strategy) ZSTD_CCtx_setParameter(cctx, ZSTD_c_strategy, new_strategy);
    if (new_strategy == ZSTD_lazy) {
      ZSTD_CCtx_setParameter(cctx, ZSTD_c_useRowMatchFinder, ZSTD_ps_disable);
      ZSTD_CCtx_setParameter(cctx, ZSTD_c_chainLog, kBlockChainLog);
      ZSTD_CCtx_setParameter(cctx, ZSTD_c_searchLog, kBlockSearchLog);
      ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, kBlockMinMatch);
    }
    // A libzstd built without threads refuses: the input is then compressed on this thread.
    if (new_workers) ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, new_workers);
    level = new_level;
    strategy = new_strategy;
    workers = new_workers;
    return cctx;
  }
  // The next call sets every parameter again (after an error).
  void Forget() { level = 0; }
};

// Per-thread compression state, reused for every call so that the hot path (one 128 KiB block
// at a time) allocates nothing and never zero-fills an output buffer it is about to overwrite.
struct ZstdContexts {
  // Blocks switch between two finders (StrategyFor): one context each keeps both set up.
  Compressor lazy_blocks;
  Compressor other;
  bool previous_ratio_high = true;  // of the last block compressed here
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::unique_ptr<uint8_t[]> scratch;  // compressed output before it is copied out
  size_t scratch_size = 0;
  ~ZstdContexts() { ZSTD_freeDCtx(dctx); }
  uint8_t* Scratch(size_t n) {
    if (scratch_size < n) {
      scratch.reset(new uint8_t[n]);  // default-initialized: no memset
      scratch_size = n;
    }
    return scratch.get();
  }
};

ZstdContexts& Zstd() {
  thread_local ZstdContexts contexts;
  return contexts;
}

// Appends scratch[0, n) to out when it is smaller than the input; the caller stores the input
// uncompressed otherwise.
bool AppendIfSmaller(const uint8_t* data, size_t n, size_t input_size, Bytes& out) {
  if (n >= input_size) return false;
  out.insert(out.end(), data, data + n);
  return true;
}

// The most bytes input can decompress to. raw_size comes from the blob: a damaged (or, in an
// unencrypted repository, forged) one must not make us allocate gigabytes before the
// decompressor notices. zstd: every block takes at least 3 bytes and yields at most
// ZSTD_BLOCKSIZE_MAX; lz4: a sequence yields at most 255 bytes per input byte.
size_t MaxDecompressedSize(Compression type, size_t input_size) {
  switch (type) {
    case Compression::kNone:
      return input_size;
    case Compression::kZstd:
      return (input_size / 3 + 1) * ZSTD_BLOCKSIZE_MAX;
    case Compression::kLz4:
      return input_size * 255 + 255;
  }
  return 0;
}

}  // namespace

bool ParseCompression(std::string_view name, Compression& out) {
  if (name == "zstd" || name == "zst")
    out = Compression::kZstd;
  else if (name == "lz4")
    out = Compression::kLz4;
  else if (name == "none")
    out = Compression::kNone;
  else
    return false;
  return true;
}

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kZstd:
      return "zstd";
    case Compression::kLz4:
      return "lz4";
  }
  return "unknown";
}

bool Compress(Compression type, int level, ByteView input, Bytes& out) {
  switch (type) {
    case Compression::kNone:
      return false;
    case Compression::kZstd: {
      ZstdContexts& z = Zstd();
      int strategy = StrategyFor(level, input.size(), z.previous_ratio_high);
      Compressor& c = strategy == ZSTD_lazy ? z.lazy_blocks : z.other;
      ZSTD_CCtx* cctx = c.With(level, strategy, WorkersFor(input.size()));
      size_t bound = ZSTD_compressBound(input.size());
      uint8_t* dst = z.Scratch(bound);
      size_t n = ZSTD_compress2(cctx, dst, bound, input.data(), input.size());
      if (ZSTD_isError(n)) {
        c.Forget();
        return false;
      }
      if (input.size() <= kSmallInput) z.previous_ratio_high = n * kLazyFromRatio <= input.size();
      return AppendIfSmaller(dst, n, input.size(), out);
    }
    case Compression::kLz4: {
      int bound = LZ4_compressBound(static_cast<int>(input.size()));
      uint8_t* dst = Zstd().Scratch(static_cast<size_t>(bound));
      int n =
          LZ4_compress_default(reinterpret_cast<const char*>(input.data()),
                               reinterpret_cast<char*>(dst), static_cast<int>(input.size()), bound);
      if (n <= 0) return false;
      return AppendIfSmaller(dst, static_cast<size_t>(n), input.size(), out);
    }
  }
  return false;
}

Status CheckDecompressedSize(Compression type, size_t input_size, size_t raw_size) {
  if (raw_size <= MaxDecompressedSize(type, input_size)) return Status::Ok();
  return Status::Corruption(
      fmt::format("blob says {} bytes, more than {} bytes of {} data can hold", raw_size,
                  input_size, CompressionName(type)));
}

Status Decompress(Compression type, ByteView input, size_t raw_size, Bytes& out) {
  // Before the allocation the blob's word would size.
  PGV_RETURN_IF_ERROR(CheckDecompressedSize(type, input.size(), raw_size));
  out.resize(raw_size);
  switch (type) {
    case Compression::kNone:
      if (input.size() != raw_size) return Status::Corruption("stored size mismatch");
      std::copy(input.begin(), input.end(), out.begin());
      return Status::Ok();
    case Compression::kZstd: {
      size_t n = ZSTD_decompressDCtx(Zstd().dctx, out.data(), raw_size, input.data(), input.size());
      if (ZSTD_isError(n) || n != raw_size) return Status::Corruption("zstd data is damaged");
      return Status::Ok();
    }
    case Compression::kLz4: {
      int n = LZ4_decompress_safe(reinterpret_cast<const char*>(input.data()),
                                  reinterpret_cast<char*>(out.data()),
                                  static_cast<int>(input.size()), static_cast<int>(raw_size));
      if (n < 0 || static_cast<size_t>(n) != raw_size)
        return Status::Corruption("lz4 data is damaged");
      return Status::Ok();
    }
  }
  return Status::Corruption("unknown compression type");
}

Status DecompressTo(Compression type, ByteView input, size_t raw_size,
                    const std::function<Status(ByteView)>& sink) {
  constexpr size_t kPiece = 1 << 20;
  if (type == Compression::kNone) {
    if (input.size() != raw_size) return Status::Corruption("stored size mismatch");
    for (size_t at = 0; at < input.size(); at += kPiece)
      PGV_RETURN_IF_ERROR(sink(input.subspan(at, std::min(kPiece, input.size() - at))));
    return Status::Ok();
  }
  if (type != Compression::kZstd) {  // lz4 blocks do not stream: whole, then in pieces
    Bytes out;
    PGV_RETURN_IF_ERROR(Decompress(type, input, raw_size, out));
    return DecompressTo(Compression::kNone, out, raw_size, sink);
  }
  // No frame at all: what the one-shot Decompress accepts for an empty content, so the same.
  if (input.empty())
    return raw_size == 0 ? Status::Ok() : Status::Corruption("zstd data is truncated");
  ZstdContexts& z = Zstd();
  ZSTD_DCtx_reset(z.dctx, ZSTD_reset_session_only);
  uint8_t* piece = z.Scratch(kPiece);
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  size_t produced = 0, left = 1;
  for (;;) {
    ZSTD_outBuffer out{piece, kPiece, 0};
    left = ZSTD_decompressStream(z.dctx, &out, &in);
    if (ZSTD_isError(left)) return Status::Corruption("zstd data is damaged");
    produced += out.pos;
    if (produced > raw_size) return Status::Corruption("zstd data is longer than recorded");
    if (out.pos > 0) PGV_RETURN_IF_ERROR(sink(ByteView(piece, out.pos)));
    // Done once every input byte is in and either the frame ended (left 0: calling again would
    // start a new frame) or the output was not full (nothing left to flush).
    if (in.pos == in.size && (left == 0 || out.pos < out.size)) break;
  }
  if (left != 0 || produced != raw_size) return Status::Corruption("zstd data is truncated");
  return Status::Ok();
}

}  // namespace pgvault::pipeline
