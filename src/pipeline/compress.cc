#include "pipeline/compress.h"

#include <lz4.h>
#include <zstd.h>

#include <memory>

namespace pgvault::pipeline {
namespace {

struct ZstdContexts {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ~ZstdContexts() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
};

ZstdContexts& Zstd() {
  thread_local ZstdContexts contexts;
  return contexts;
}

}  // namespace

bool ParseCompression(std::string_view name, Compression& out) {
  if (name == "zstd" || name == "zst") out = Compression::kZstd;
  else if (name == "lz4") out = Compression::kLz4;
  else if (name == "none") out = Compression::kNone;
  else return false;
  return true;
}

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone: return "none";
    case Compression::kZstd: return "zstd";
    case Compression::kLz4: return "lz4";
  }
  return "unknown";
}

bool Compress(Compression type, int level, ByteView input, Bytes& out) {
  size_t base = out.size();
  switch (type) {
    case Compression::kNone: return false;
    case Compression::kZstd: {
      out.resize(base + ZSTD_compressBound(input.size()));
      size_t n = ZSTD_compressCCtx(Zstd().cctx, out.data() + base, out.size() - base, input.data(),
                                   input.size(), level);
      if (ZSTD_isError(n) || n >= input.size()) {
        out.resize(base);
        return false;
      }
      out.resize(base + n);
      return true;
    }
    case Compression::kLz4: {
      out.resize(base + LZ4_compressBound(static_cast<int>(input.size())));
      int n = LZ4_compress_default(reinterpret_cast<const char*>(input.data()),
                                   reinterpret_cast<char*>(out.data() + base),
                                   static_cast<int>(input.size()), static_cast<int>(out.size() - base));
      if (n <= 0 || static_cast<size_t>(n) >= input.size()) {
        out.resize(base);
        return false;
      }
      out.resize(base + n);
      return true;
    }
  }
  return false;
}

Status Decompress(Compression type, ByteView input, size_t raw_size, Bytes& out) {
  out.resize(raw_size);
  switch (type) {
    case Compression::kNone:
      if (input.size() != raw_size) return Status::Corruption("stored size mismatch");
      std::copy(input.begin(), input.end(), out.begin());
      return Status::Ok();
    case Compression::kZstd: {
      size_t n = ZSTD_decompressDCtx(Zstd().dctx, out.data(), raw_size, input.data(), input.size());
      if (ZSTD_isError(n) || n != raw_size)
        return Status::Corruption("zstd data is damaged");
      return Status::Ok();
    }
    case Compression::kLz4: {
      int n = LZ4_decompress_safe(reinterpret_cast<const char*>(input.data()),
                                  reinterpret_cast<char*>(out.data()), static_cast<int>(input.size()),
                                  static_cast<int>(raw_size));
      if (n < 0 || static_cast<size_t>(n) != raw_size) return Status::Corruption("lz4 data is damaged");
      return Status::Ok();
    }
  }
  return Status::Corruption("unknown compression type");
}

}  // namespace pgvault::pipeline
