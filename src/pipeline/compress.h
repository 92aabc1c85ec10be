// Block compression: zstd (default), lz4 or none. Stateless API; contexts are cached per thread.
#pragma once

#include <functional>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace pgvault::pipeline {

// Values are stored on disk: never renumber.
enum class Compression : uint8_t { kNone = 0, kZstd = 1, kLz4 = 2 };

bool ParseCompression(std::string_view name, Compression& out);
std::string_view CompressionName(Compression c);

// Appends the compressed form of input to out. Returns false when the result would not be
// smaller than the input (the caller then stores it uncompressed).
bool Compress(Compression type, int level, ByteView input, Bytes& out);
// kCorruption unless input_size bytes of this compression can decompress to raw_size bytes. The
// raw size comes from the blob: a damaged (or, unencrypted, forged) one must not make a caller
// allocate gigabytes before the decompressor notices. Both Decompress check it; a caller that
// sizes its own buffer checks it first.
Status CheckDecompressedSize(Compression type, size_t input_size, size_t raw_size);
// raw_size is the exact expected output size; anything else is kCorruption.
Status Decompress(Compression type, ByteView input, size_t raw_size, Bytes& out);
// The same, handing the raw bytes to sink in pieces of at most 1 MiB as they are produced
// (archive-get writes a segment while it decompresses it: no 16 MiB buffer, and the page
// cache is dirtied at the pace of decompression, which the kernel's writeback throttling
// treats far better than one 16 MiB write). sink's error stops it and is returned.
Status DecompressTo(Compression type, ByteView input, size_t raw_size,
                    const std::function<Status(ByteView)>& sink);

}  // namespace pgvault::pipeline
