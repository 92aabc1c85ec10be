#include "pipeline/delta.h"

#include <fmt/format.h>
#include <zstd.h>

namespace pgvault::pipeline {
namespace {

struct DeltaContexts {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ~DeltaContexts() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
  }
};

DeltaContexts& Contexts() {
  thread_local DeltaContexts contexts;
  return contexts;
}

}  // namespace

Status DeltaEncode(ByteView base, ByteView input, int level, Bytes& out) {
  ZSTD_CCtx* cctx = Contexts().cctx;
  if (!cctx) return Status::Internal("cannot create a zstd context (out of memory?)");
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  // The prefix is referenced, not copied, and lasts for one frame only.
  ZSTD_CCtx_refPrefix(cctx, base.data(), base.size());
  size_t at = out.size();
  out.resize(at + ZSTD_compressBound(input.size()));
  size_t n = ZSTD_compress2(cctx, out.data() + at, out.size() - at, input.data(), input.size());
  // With a bound-sized output buffer zstd cannot fail short of memory exhaustion.
  if (ZSTD_isError(n)) {
    out.resize(at);
    return Status::Internal(fmt::format("zstd delta compression failed: {}", ZSTD_getErrorName(n)));
  }
  out.resize(at + n);
  return Status::Ok();
}

Status DeltaDecode(ByteView base, ByteView frame, Bytes& out) {
  unsigned long long raw_size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  // Blocks are at most 16 MiB (repository config), so anything larger is damage.
  if (raw_size == ZSTD_CONTENTSIZE_UNKNOWN || raw_size == ZSTD_CONTENTSIZE_ERROR ||
      raw_size > (16u << 20))
    return Status::Corruption("delta frame has no valid size");
  ZSTD_DCtx* dctx = Contexts().dctx;
  if (!dctx) return Status::Internal("cannot create a zstd context (out of memory?)");
  ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
  ZSTD_DCtx_refPrefix(dctx, base.data(), base.size());
  out.resize(raw_size);
  size_t n = ZSTD_decompressDCtx(dctx, out.data(), raw_size, frame.data(), frame.size());
  if (ZSTD_isError(n) || n != raw_size)
    return Status::Corruption("delta frame does not apply to its base");
  return Status::Ok();
}

}  // namespace pgvault::pipeline
