// Byte buffers and little-endian encoding helpers used by every on-disk format.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgvault {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsString(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline void Append(Bytes& out, ByteView b) { out.insert(out.end(), b.begin(), b.end()); }

std::string ToHex(ByteView b);
// Returns false on odd length or a non-hex character.
bool FromHex(std::string_view hex, Bytes& out);

// Appends fixed-width little-endian integers and length-prefixed strings.
class Encoder {
 public:
  explicit Encoder(Bytes& out) : out_(out) {}
  void U8(uint8_t v) { out_.push_back(v); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void U64(uint64_t v) { Fixed(v, 8); }
  void Raw(ByteView b) { Append(out_, b); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(AsBytes(s));
  }

 private:
  void Fixed(uint64_t v, int width) {
    for (int byte_idx = 0; byte_idx < width; ++byte_idx)
      out_.push_back((v >> (8 * byte_idx)) & 0xff);
  }
  Bytes& out_;
};

// Reads what Encoder wrote; every read fails (returns false) past the end instead of reading out of
// bounds, so a corrupt or truncated input can never crash a parser.
class Decoder {
 public:
  explicit Decoder(ByteView in) : in_(in) {}
  bool U8(uint8_t& v) { return Fixed(v, 1); }
  bool U32(uint32_t& v) { return Fixed(v, 4); }
  bool U64(uint64_t& v) { return Fixed(v, 8); }
  bool Raw(size_t n, ByteView& v) {
    if (in_.size() - pos_ < n) return false;
    v = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool Str(std::string& s) {
    uint32_t n;
    ByteView v;
    if (!U32(n) || !Raw(n, v)) return false;
    s.assign(AsString(v));
    return true;
  }
  bool done() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  template <typename T>
  bool Fixed(T& v, size_t width) {
    if (in_.size() - pos_ < width) return false;
    uint64_t acc = 0;
    for (size_t byte_idx = 0; byte_idx < width; ++byte_idx)
      acc |= static_cast<uint64_t>(in_[pos_ + byte_idx]) << (8 * byte_idx);
    v = static_cast<T>(acc);
    pos_ += width;
    return true;
  }
  ByteView in_;
  size_t pos_ = 0;
};

}  // namespace pgvault
